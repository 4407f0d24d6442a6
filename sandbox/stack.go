package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// Bounds of a failure's Stack, like maxDetail for its Detail: a recursive
// hook can fail hundreds of frames deep.
const (
	maxFrames = 20
	maxStack  = 2 * maxDetail
)

// requirePrefix is the wrapper goja_nodejs puts around a required file's
// source (require.Registry.getCompiledSource); like ours it holds no
// newline, so only columns on line 1 need correcting.
const requirePrefix = "(function(exports,require,module,__filename,__dirname){"

// frame is one call in a failure's stack, as goja names it: file is the
// absolute path the hook or the required file was compiled under.
type frame struct {
	fn        string
	file      string
	line, col int
}

// Stack returns the stack of a failed run, the Stack of the *Error in
// err's chain; "" for any other error or when no position is known.
func Stack(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Stack
	}
	return ""
}

// failureFrames finds where a thrown or rejected value arose, in the
// hook's own files. A synchronous throw comes with goja's stack (site):
// for an Error object the one recorded when it was made, as Node reports
// it, else the throw's. A rejection loses that; an Error object still
// has its stack property, which goja writes from the same record. Errors
// made by host code while no JavaScript ran (async work failing) have
// the call that started the work in origins. Other rejected values have
// no place.
func (c *call) failureFrames(v goja.Value, site []goja.StackFrame) []frame {
	if fs := c.hook.siteFrames(site); len(fs) > 0 {
		return fs
	}
	obj, ok := v.(*goja.Object)
	if !ok {
		return nil
	}
	if obj.ClassName() == "Error" {
		if fs := c.hook.errorFrames(obj); len(fs) > 0 {
			return fs
		}
	}
	return c.hook.siteFrames(c.origins[obj])
}

// siteFrames keeps the hook's own frames of a stack goja captured.
func (h *Hook) siteFrames(site []goja.StackFrame) []frame {
	var fs []frame
	for i := 0; i < len(site) && len(fs) < maxFrames; i++ {
		pos := site[i].Position()
		if f, ok := h.ownFrame(frame{fn: site[i].FuncName(), file: pos.Filename, line: pos.Line, col: pos.Column}); ok {
			fs = append(fs, f)
		}
	}
	return fs
}

// errorFrames reads the frames of an Error object from its stack
// property, the only way goja offers them. Its lines are
//
//	\tat fn (file:line:col(pc))
//	\tat file:line:col(pc)
//	\tat fn (native)
//
// after a header of the error's name and message. The message may span
// lines, so only the block of frame lines that ends the text counts.
func (h *Hook) errorFrames(obj *goja.Object) (fs []frame) {
	defer func() {
		// The hook may have replaced stack with a getter that throws.
		if recover() != nil {
			fs = nil
		}
	}()
	v := obj.Get("stack")
	if v == nil {
		return nil
	}
	s, ok := v.Export().(string)
	if !ok {
		return nil
	}
	s = strings.TrimRight(s, "\n")
	start := len(s) // of the block, found without splitting all of s
	for start > 0 {
		i := strings.LastIndexByte(s[:start], '\n')
		if !strings.HasPrefix(s[i+1:], "\tat ") {
			break
		}
		start = max(i, 0)
	}
	for line := range strings.SplitSeq(s[start:], "\n") {
		if f, ok := h.parseFrame(line); ok {
			if f, ok = h.ownFrame(f); ok {
				if fs = append(fs, f); len(fs) == maxFrames {
					break
				}
			}
		}
	}
	return fs
}

// parseFrame parses one frame line of an Error's stack property, if it
// names a file of the hook's folder.
func (h *Hook) parseFrame(line string) (frame, bool) {
	s, ok := strings.CutPrefix(line, "\tat ")
	if !ok || !strings.HasSuffix(s, ")") || strings.HasSuffix(s, "native)") {
		return frame{}, false
	}
	f := frame{fn: "<anonymous>"}
	if strings.HasSuffix(s, "))") {
		// fn (file: the file's path starts with the hook's folder.
		i := strings.Index(s, " ("+filepath.Dir(h.path)+string(filepath.Separator))
		if i < 0 {
			return frame{}, false
		}
		f.fn, s = s[:i], s[i+2:len(s)-1]
	}
	// file:line:col(pc), read from the end: the file may hold anything.
	open := strings.LastIndexByte(s, '(')
	if open < 0 {
		return frame{}, false
	}
	s = s[:open]
	var err error
	colAt := strings.LastIndexByte(s, ':')
	if colAt < 0 {
		return frame{}, false
	}
	if f.col, err = strconv.Atoi(s[colAt+1:]); err != nil {
		return frame{}, false
	}
	s = s[:colAt]
	lineAt := strings.LastIndexByte(s, ':')
	if lineAt < 0 {
		return frame{}, false
	}
	if f.line, err = strconv.Atoi(s[lineAt+1:]); err != nil {
		return frame{}, false
	}
	f.file = s[:lineAt]
	return f, true
}

// ownFrame keeps a frame that lies in the hook's own files (the hook and
// what it required, all inside its folder) and names its file for the
// author. The prelude's and native frames are the sandbox's business.
func (h *Hook) ownFrame(f frame) (frame, bool) {
	name, ok := h.fileName(f.file)
	if !ok {
		return frame{}, false
	}
	if f.line == 1 {
		// The module wrappers sit on line 1, ahead of the source.
		prefix := len(requirePrefix)
		if f.file == h.path {
			prefix = len(modulePrefix)
		}
		if f.col > prefix {
			f.col -= prefix
		}
	}
	f.file = name
	return f, true
}

// fileName names one of the hook's files in errors by its path relative
// to the hook's folder, never the absolute path: failures reach logs and
// dashboards off this machine, where the deployment's layout is noise at
// best; the relative path is what the author sees in their repository,
// and unlike the base name it tells lib/util.js from util.js. ok is false
// for a file outside the folder (the prelude, native code).
func (h *Hook) fileName(file string) (string, bool) {
	if file == h.path {
		return filepath.Base(file), true
	}
	dir := filepath.Dir(h.path) + string(filepath.Separator)
	if file == "" || !strings.HasPrefix(file, dir) {
		return "", false
	}
	return filepath.ToSlash(file[len(dir):]), true
}

// position is the innermost frame's place, for the end of a Detail.
func position(fs []frame) string {
	if len(fs) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s:%d:%d)", fs[0].file, fs[0].line, fs[0].col)
}

// formatStack renders frames one per line, "at fn (file:line:col)",
// secrets redacted, then bounded.
func (h *Hook) formatStack(fs []frame) string {
	// Bound the work, not the text, as describe does: a stack property
	// the hook wrote may name a function in megabytes. The text is cut
	// to maxStack after redaction, far below this.
	const work = 16 * maxStack
	var b strings.Builder
	for i, f := range fs {
		if b.Len() > work {
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "at %s (%s:%d:%d)", f.fn[:min(len(f.fn), work)], f.file, f.line, f.col)
	}
	return truncate(h.redact(b.String()), maxStack)
}
