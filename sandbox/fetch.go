package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/dop251/goja"
)

// Limits of fetch per run.
const (
	maxFetches      = 20
	maxRequestBytes = 1 << 20
)

// fetch is the fetch global: a WHATWG-shaped subset. The request is bounded
// by the run's deadline; the whole body is read, up to the engine's cap,
// before the promise resolves, so text() and json() never block.
//
//	const r = await fetch(url, { method, headers, body, redirect })
//	r.status, r.statusText, r.ok, r.url, r.redirected, r.headers.get(name)
//	await r.text(), await r.json()
func (rt *runtime) fetch(fc goja.FunctionCall) goja.Value {
	c := rt.call()
	req, redirect, err := c.newRequest(fc)
	if err == nil && c.fetches >= maxFetches {
		err = fmt.Errorf("fetch: more than %d requests in one run", maxFetches)
	}
	if err != nil {
		p, _, reject := c.vm.NewPromise()
		_ = reject(c.typeError("%v", err))
		return c.vm.ToValue(p)
	}
	c.fetches++
	client := *c.hook.client
	switch redirect {
	case "manual":
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	case "error":
		client.CheckRedirect = func(*http.Request, []*http.Request) error {
			return errors.New("redirect refused (redirect: \"error\")")
		}
	}
	limit := c.hook.engine.opts.MaxResponseBytes
	return c.async(func(ctx context.Context) (func() (goja.Value, error), error) {
		resp, err := client.Do(req.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("fetch: reading body: %w", err)
		}
		if int64(len(body)) > limit {
			return nil, fmt.Errorf("fetch: response body larger than %d bytes", limit)
		}
		return func() (goja.Value, error) { return c.newResponse(req, resp, body), nil }, nil
	})
}

// newRequest reads fetch's arguments.
func (c *call) newRequest(fc goja.FunctionCall) (*http.Request, string, error) {
	raw, ok := fc.Argument(0).Export().(string)
	if !ok {
		return nil, "", errors.New("fetch: url must be a string")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("fetch: %q is not an absolute http(s) URL", raw)
	}
	method, redirect := http.MethodGet, "follow"
	header := http.Header{"User-Agent": {"idphooks"}}
	var body []byte
	if init, ok := fc.Argument(1).(*goja.Object); ok {
		if v := init.Get("method"); v != nil && !goja.IsUndefined(v) {
			method = strings.ToUpper(v.String())
		}
		if v := init.Get("redirect"); v != nil && !goja.IsUndefined(v) {
			redirect = v.String()
			if redirect != "follow" && redirect != "manual" && redirect != "error" {
				return nil, "", fmt.Errorf("fetch: redirect must be follow, manual or error")
			}
		}
		if err := readHeaders(init.Get("headers"), header); err != nil {
			return nil, "", err
		}
		switch v := init.Get("body"); {
		case v == nil || goja.IsUndefined(v) || goja.IsNull(v):
		default:
			switch b := v.Export().(type) {
			case string:
				body = []byte(b)
			case []byte:
				body = bytes.Clone(b)
			case goja.ArrayBuffer:
				body = bytes.Clone(b.Bytes())
			default:
				return nil, "", errors.New("fetch: body must be a string or bytes; use JSON.stringify for objects")
			}
		}
	}
	if len(body) > maxRequestBytes {
		return nil, "", fmt.Errorf("fetch: request body larger than %d bytes", maxRequestBytes)
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("fetch: %w", err)
	}
	req.Header = header
	return req, redirect, nil
}

// readHeaders takes a plain object or an array of [name, value] pairs.
func readHeaders(v goja.Value, h http.Header) error {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil
	}
	switch hs := v.Export().(type) {
	case map[string]any:
		for k, val := range hs {
			h.Set(k, fmt.Sprint(val))
		}
	case []any:
		for _, pair := range hs {
			kv, ok := pair.([]any)
			if !ok || len(kv) != 2 {
				return errors.New("fetch: headers must be an object or [name, value] pairs")
			}
			h.Add(fmt.Sprint(kv[0]), fmt.Sprint(kv[1]))
		}
	default:
		return errors.New("fetch: headers must be an object or [name, value] pairs")
	}
	return nil
}

// newResponse builds the Response-like object of a completed fetch.
func (c *call) newResponse(req *http.Request, resp *http.Response, body []byte) goja.Value {
	vm := c.vm
	r := vm.NewObject()
	_ = r.Set("status", resp.StatusCode)
	_ = r.Set("statusText", strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode))))
	_ = r.Set("ok", resp.StatusCode >= 200 && resp.StatusCode < 300)
	_ = r.Set("url", resp.Request.URL.String())
	_ = r.Set("redirected", resp.Request.URL.String() != req.URL.String())
	_ = r.Set("headers", c.newHeaders(resp.Header))
	resolved := func(v goja.Value) goja.Value {
		p, resolve, _ := vm.NewPromise()
		_ = resolve(v)
		return vm.ToValue(p)
	}
	// Methods take goja.FunctionCall: goja calls that signature directly,
	// where any other func type goes through reflection on every call.
	_ = r.Set("text", func(goja.FunctionCall) goja.Value { return resolved(vm.ToValue(string(body))) })
	_ = r.Set("json", func(goja.FunctionCall) goja.Value {
		p, resolve, reject := vm.NewPromise()
		parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
		v, err := parse(goja.Undefined(), vm.ToValue(string(body)))
		if err != nil {
			var ex *goja.Exception
			if errors.As(err, &ex) {
				_ = reject(ex.Value())
			} else {
				panic(err)
			}
		} else {
			_ = resolve(v)
		}
		return vm.ToValue(p)
	})
	_ = r.Set("arrayBuffer", func(goja.FunctionCall) goja.Value {
		return resolved(vm.ToValue(vm.NewArrayBuffer(bytes.Clone(body))))
	})
	return r
}

// newHeaders is a read-only Headers subset.
func (c *call) newHeaders(h http.Header) *goja.Object {
	vm := c.vm
	o := vm.NewObject()
	_ = o.Set("get", func(fc goja.FunctionCall) goja.Value {
		vs := h.Values(fc.Argument(0).String())
		if len(vs) == 0 {
			return goja.Null()
		}
		return vm.ToValue(strings.Join(vs, ", "))
	})
	_ = o.Set("has", func(fc goja.FunctionCall) goja.Value {
		return vm.ToValue(len(h.Values(fc.Argument(0).String())) > 0)
	})
	_ = o.Set("forEach", func(fc goja.FunctionCall) goja.Value {
		cb, ok := goja.AssertFunction(fc.Argument(0))
		if !ok {
			panic(c.typeError("headers.forEach: callback must be a function"))
		}
		for k, vs := range h {
			if _, err := cb(goja.Undefined(), vm.ToValue(strings.Join(vs, ", ")), vm.ToValue(strings.ToLower(k))); err != nil {
				panic(err)
			}
		}
		return goja.Undefined()
	})
	return o
}
