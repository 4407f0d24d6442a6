package sandbox

import (
	"strings"

	"github.com/dop251/goja"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Console limits keep a chatty or hostile hook from flooding the logs.
const (
	maxLogLine  = 4 << 10
	maxLogLines = 100
)

// newConsole builds the console global: each method writes one zap entry
// labelled with the hook, the event and the request, secrets redacted.
func (rt *runtime) newConsole() *goja.Object {
	console := rt.vm.NewObject()
	for name, level := range map[string]zapcore.Level{
		"debug": zap.DebugLevel,
		"log":   zap.InfoLevel,
		"info":  zap.InfoLevel,
		"warn":  zap.WarnLevel,
		"error": zap.ErrorLevel,
	} {
		_ = console.Set(name, func(fc goja.FunctionCall) goja.Value {
			rt.call().log(level, fc.Arguments)
			return goja.Undefined()
		})
	}
	return console
}

func (c *call) log(level zapcore.Level, args []goja.Value) {
	if c.logged >= maxLogLines {
		return
	}
	c.logged++
	logger := c.hook.opts.Logger
	if c.logged == maxLogLines {
		logger.Warn("console output truncated", c.logFields()...)
		return
	}
	// Check first: formatting is wasted on a disabled level.
	if ce := logger.Check(level, ""); ce != nil {
		ce.Message = truncate(c.redact(c.format(args)), maxLogLine)
		ce.Write(c.logFields()...)
	}
}

func (c *call) logFields() []zap.Field {
	event := c.inv.EventType
	if event == "" {
		event, _ = c.inv.Event["type"].(string)
	}
	return []zap.Field{
		zap.String("hook", c.hook.opts.Name),
		zap.String("event", event),
		zap.String("request_id", c.inv.RequestID),
	}
}

// format joins console arguments the way browsers do, roughly: strings as
// they are, everything else as JSON when it can be.
func (c *call) format(args []goja.Value) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(stringify(c.vm, a))
		// Bound the work; the line is cut to maxLogLine after redaction,
		// with room kept for a secret straddling the cut.
		if b.Len() > 16*maxLogLine {
			break
		}
	}
	return b.String()
}

func stringify(vm *goja.Runtime, v goja.Value) (s string) {
	defer func() {
		if recover() != nil {
			s = "[unprintable]"
		}
	}()
	if obj, ok := v.(*goja.Object); ok {
		switch obj.ClassName() {
		case "Error":
			return obj.Get("name").String() + ": " + obj.Get("message").String()
		case "Function":
			return "[function]"
		}
		if b, err := obj.MarshalJSON(); err == nil {
			return string(b)
		}
	}
	if v == nil {
		return "undefined"
	}
	return v.String()
}
