package forms

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// post is a form post as hooks and the IdP both read it.
type post struct {
	form Form
	// classified is the form the request's endpoint names, before its
	// fields refined it.
	classified Form
	fields     Fields
	query      url.Values
	values     url.Values
	// raw is the body as the browser sent it: edits keep its order.
	raw        []byte
	app        string
	identifier string
	// carried: identifier is not the post's but the one the IdP took at
	// the username step of its flow.
	carried bool
	// php: names are folded as PHP folds them (Reading.PHP).
	php     bool
	reading Reading
}

// read is a field's value as the IdP uses it (Reading.Trim, Fold), which
// is what hooks judge: a hook that denies "bob" must see "bob" when the
// customer typed " BOB ", since Keycloak logs bob in with it.
func (p *post) read(name, v string) string {
	if p.reading.Trim && slices.Contains(p.fields.Identifiers, name) {
		v = strings.TrimFunc(v, func(c rune) bool { return c <= ' ' })
	}
	if slices.Contains(p.reading.Fold, name) {
		v, _ = javaLower(v) // readPost refused what it cannot fold
	}
	return v
}

// unreadable is the page a post gets when idphooks cannot read it the way
// the IdP would: the hooks would judge other values than the IdP uses.
func unreadable(status int, why string, cause error) error {
	return &interception.PageError{Status: status, Message: "This form could not be read: " + why + ".", Cause: cause}
}

// readPost reads r's form the one way both idphooks and the IdP read it,
// or refuses it.
func (i *Interceptor) readPost(r *http.Request, f Form) (*post, error) {
	if err := formType(r); err != nil {
		return nil, err
	}
	query, err := interception.Query(r)
	if err != nil {
		return nil, unreadable(http.StatusBadRequest, "its address is malformed", err)
	}
	values, raw, err := interception.ReadFormBody(r, i.cfg.MaxBody)
	if err != nil {
		var e *interception.Error
		if errors.As(err, &e) {
			return nil, unreadable(e.Status, e.Description, err)
		}
		return nil, unreadable(http.StatusBadRequest, "it is malformed", err)
	}
	if values == nil {
		values = url.Values{}
	}
	for k, vs := range values {
		// An IdP decoding UTF-8 leniently would read U+FFFD where the
		// hook reads the raw bytes.
		for _, v := range append(vs, k) {
			if !utf8.ValidString(v) {
				return nil, unreadable(http.StatusBadRequest, "it is not UTF-8", errors.New("invalid UTF-8 in field "+url.QueryEscape(k)))
			}
		}
	}
	prof := i.cfg.Profile
	rd := prof.Reading()
	if rd.PHP {
		if values, err = phpFields(values); err == nil {
			query, err = phpFields(query)
		}
		if err != nil {
			return nil, unreadable(http.StatusBadRequest, "a field name is one PHP reads differently", err)
		}
	}
	if rd.Query {
		// $_REQUEST: a field the body lacks is read from the query.
		for k, vs := range query {
			if values.Has(k) {
				return nil, unreadable(http.StatusBadRequest, "a field is repeated",
					fmt.Errorf("field %q is both in the query and the body", k))
			}
			values[k] = vs
		}
	}
	// A repeated field is read as its first value by some IdPs and its
	// last by others: the hook could judge one and the IdP use another.
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	if err := interception.Single(names, values); err != nil {
		return nil, unreadable(http.StatusBadRequest, "a field is repeated", err)
	}
	if err := interception.Single(prof.ApplicationParams(), query, values); err != nil {
		return nil, unreadable(http.StatusBadRequest, "a parameter is repeated", err)
	}
	// The IdP may run another step than the endpoint names: its fields
	// tell (a registration posted to the login endpoint).
	classified := f
	f = prof.Refine(f, values)
	p := &post{form: f, classified: classified, fields: prof.Fields(f), query: query, values: values, raw: raw, php: rd.PHP, reading: rd}
	p.app = prof.Application(query, values)
	for _, name := range rd.Fold {
		if _, ok := javaLower(values.Get(name)); !ok {
			return nil, unreadable(http.StatusBadRequest, "its "+name+" holds a capital letter the identity provider may lower-case otherwise; type it in small letters",
				fmt.Errorf("field %q: a Σ beside something other than letters, or a letter whose case the IdP's Unicode may not know", name))
		}
	}
	for _, name := range p.fields.Identifiers {
		if p.identifier = p.read(name, values.Get(name)); p.identifier != "" {
			break
		}
	}
	if p.identifier == "" && f == Login && values.Get(p.fields.Password) != "" {
		// The password step of a username-then-password flow: the
		// identifier is the one the IdP took at the step before.
		if p.identifier = i.carried(r); p.identifier != "" {
			p.carried = true
		}
	}
	if p.app == "" && (i.filtered(f) || i.filtered(classified)) {
		// Hooks limited to some applications cannot be chosen.
		return nil, unreadable(http.StatusBadRequest, "it does not say which application it is for", errors.New("no application in the form post"))
	}
	return p, nil
}

// formType checks that r's body is url-encoded UTF-8 by a Content-Type
// nobody can read another way, and makes the IdP read it so. Keycloak
// decodes a form in the charset its Content-Type names, read by a parser
// of its own: a type Go's parser refuses ("charset=UTF-16BE; x") or reads
// differently had Keycloak decode "%00b%00o%00b" as "bob" while hooks
// read NULs. So a malformed or repeated type is refused, and the IdP gets
// the bare type, whose default charset is UTF-8 in both readings.
func formType(r *http.Request) error {
	cts := r.Header.Values("Content-Type")
	if len(cts) > 1 {
		return unreadable(http.StatusUnsupportedMediaType, "its type is repeated", errors.New("form post with several Content-Type headers"))
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		// Browsers post these forms url-encoded; a multipart or JSON body
		// is one the IdP may read by rules of its own.
		return unreadable(http.StatusUnsupportedMediaType, "it is not url-encoded", fmt.Errorf("form post with Content-Type %q", ct))
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return unreadable(http.StatusUnsupportedMediaType, "it is not UTF-8", fmt.Errorf("form post with Content-Type %q", ct))
		}
	}
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !(len(ce) == 1 && strings.EqualFold(strings.TrimSpace(ce[0]), "identity")) {
		// Keycloak answers a gzip body with 500; an IdP that inflates it
		// would read a body idphooks did not.
		return unreadable(http.StatusUnsupportedMediaType, "it is compressed", fmt.Errorf("form post with Content-Encoding %q", strings.Join(ce, ", ")))
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return nil
}

// filtered reports whether a hook on one of f's events is limited to
// some applications.
func (i *Interceptor) filtered(f Form) bool {
	for _, id := range append(slices.Clone(requestEvents[f]), answerEvents[f]...) {
		if i.cfg.Dispatcher.HasFilteredHook(id) {
			return true
		}
	}
	return false
}

// Redacted stands in for a secret field's value in events.
const Redacted = "[redacted]"

// secret reports whether a field's value is shown to no event but
// before_password_validation: the profile's secrets, and any field whose
// name says password, whatever the profile knows.
func (p *post) secret(name string) bool {
	return slices.Contains(p.fields.Secrets, name) || strings.Contains(strings.ToLower(name), "password")
}

// formView is the form as events show it: one value a field (the post
// has no repeats), secrets redacted.
func (p *post) formView() map[string]any {
	m := make(map[string]any, len(p.values))
	for k, vs := range p.values {
		if len(vs) == 0 {
			continue
		}
		if p.secret(k) {
			m[k] = Redacted
			continue
		}
		m[k] = p.read(k, vs[0])
	}
	return m
}

// event builds the occurrence of id for this post.
func (i *Interceptor) event(r *http.Request, id string, p *post) *events.Event {
	ev := events.New(id, p.app, i.eventRequest(r))
	ev.Data = make(map[string]any, 4+events.CommonFields)
	identifier := p.identifier
	if identifier == "" && p.form == OTP && i.sessions != nil {
		// The code step names nobody: the flow's login did.
		session, _ := i.sessions.FlowKey(r)
		identifier = i.flows.who(sessionKey(session))
	}
	if identifier != "" {
		ev.Data["identifier"] = identifier
	}
	ev.Data["form"] = p.formView()
	ev.Data["form_type"] = p.form.String()
	return ev
}
