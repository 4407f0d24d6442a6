package sandbox

import (
	"errors"
	"fmt"

	"github.com/dop251/goja"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
)

// A hook file is a CommonJS module: its body is wrapped in a function, as
// Node does, so `exports`, `module` and `require` are parameters rather than
// globals. The prefix holds no newline, so line numbers stay the file's own.
const (
	modulePrefix = "(function(exports, require, module, __filename, __dirname) {"
	moduleSuffix = "\n})"
)

// compileModule compiles a CommonJS module. Syntax errors name the file and
// line.
func compileModule(path, src string) (*goja.Program, error) {
	// Parse first: goja.Compile flattens parser errors into a string.
	ast, err := parser.ParseFile(nil, path, modulePrefix+src+moduleSuffix, 0)
	if err != nil {
		return nil, syntaxError(path, err)
	}
	prg, err := goja.CompileAST(ast, false)
	if err != nil {
		return nil, syntaxError(path, err)
	}
	return prg, nil
}

func syntaxError(path string, err error) error {
	if pos, msg, ok := syntaxPosition(err); ok {
		if pos.Line == 1 {
			pos.Column -= len(modulePrefix)
		}
		return fmt.Errorf("%s:%d:%d: SyntaxError: %s", path, pos.Line, pos.Column, msg)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// syntaxPosition digs the first position out of either kind of syntax
// error goja returns (parser errors and compiler errors).
func syntaxPosition(err error) (file.Position, string, bool) {
	var list parser.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		return list[0].Position, list[0].Message, true
	}
	var syntax *goja.CompilerSyntaxError
	if errors.As(err, &syntax) && syntax.File != nil {
		return syntax.File.Position(syntax.Offset), syntax.Message, true
	}
	return file.Position{}, "", false
}
