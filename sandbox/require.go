package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
)

// maxModuleBytes caps a required file.
const maxModuleBytes = 1 << 20

// newRegistry makes the hook's module registry: compiled modules are
// shared by its runtimes, sources come only from the hook's own folder.
func (h *Hook) newRegistry() *require.Registry {
	root := filepath.Dir(h.path)
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	return require.NewRegistry(
		require.WithLoader(func(p string) ([]byte, error) { return loadModuleSource(root, p) }),
		// No symlink resolution here: the loader checks the real path.
		require.WithPathResolver(func(base, p string) string {
			return filepath.Join(base, filepath.FromSlash(p))
		}),
	)
}

// loadModuleSource reads a module file if it lies inside root once
// symlinks are resolved. Misses report ModuleFileDoesNotExistError so the
// resolver goes on to try p.js, p.json and p/index.js.
func loadModuleSource(root, p string) ([]byte, error) {
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, require.ModuleFileDoesNotExistError
	}
	if err != nil {
		return nil, err
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is outside the hook's folder", p)
	}
	switch filepath.Ext(real) {
	case ".js", ".json", ".cjs":
	default:
		return nil, require.ModuleFileDoesNotExistError
	}
	fi, err := os.Stat(real)
	if err != nil || fi.IsDir() {
		return nil, require.ModuleFileDoesNotExistError
	}
	if fi.Size() > maxModuleBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxModuleBytes)
	}
	return os.ReadFile(real)
}

// require is the require global and the require of every module. It takes
// relative paths only: no host modules (fs, process, ...), no node_modules
// search outside the folder, whatever else is registered in the process.
func (rt *runtime) require(fc goja.FunctionCall) goja.Value {
	c := rt.call()
	spec := c.argString(fc, 0, "require")
	if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
		panic(c.typeError("require(%q): only files inside the hook's folder can be required, by a relative path", spec))
	}
	if c.modules == nil {
		c.modules = c.hook.modules.Enable(c.vm)
	}
	v, err := c.modules.Require(spec)
	if err != nil {
		var ex *goja.Exception
		var interrupted *goja.InterruptedError
		if errors.As(err, &ex) || errors.As(err, &interrupted) {
			panic(err) // the module's own exception, or an interrupt, as is
		}
		panic(c.typeError("require(%q): %s", spec, c.hook.requireError(err)))
	}
	return v
}

// requireError renders a failure to load a required file with the file
// named as in stacks (see fileName) and a syntax error placed at the
// file's own column, not its wrapper's. goja_nodejs hands syntax errors
// over flattened to "path: Line l:c message".
func (h *Hook) requireError(err error) string {
	msg := strings.ReplaceAll(err.Error(), filepath.Dir(h.path)+string(filepath.Separator), "")
	var syntax *goja.CompilerSyntaxError
	if !errors.As(err, &syntax) {
		return msg
	}
	file, rest, ok := strings.Cut(syntax.Message, ": Line ")
	var line, col int
	var text string
	if n, _ := fmt.Sscanf(rest, "%d:%d ", &line, &col); !ok || n != 2 {
		return msg
	}
	_, text, _ = strings.Cut(rest, " ")
	if name, ok := h.fileName(file); ok {
		file = name
	} else {
		file = filepath.Base(file)
	}
	if line == 1 && col > len(requirePrefix) {
		col -= len(requirePrefix)
	}
	return fmt.Sprintf("%s:%d:%d: SyntaxError: %s", file, line, col, text)
}
