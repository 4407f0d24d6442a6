package forms

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// Config is everything the interceptor needs, as plain values.
type Config struct {
	Profile Profile

	// Directory, when set, is the IdP's user store for lazy migration:
	// before_password_validation runs for identifiers it does not know.
	// Nil: that event is not raised (caddymodule refuses a hook on it).
	Directory Directory

	Dispatcher *events.Dispatcher

	// MaxBody caps the form bodies and pages idphooks reads. Default 1 MiB.
	MaxBody int64

	// RequestHeaders are the request headers hooks may see.
	RequestHeaders []string

	Logger *zap.Logger
}

// Interceptor runs the journey hooks on the IdP's own pages. It is safe
// for concurrent use.
type Interceptor struct {
	cfg   Config
	log   *zap.Logger
	known knownUsers
	flows flows
	// sessions is the profile's, when its IdP binds flows to a session.
	sessions Sessions
}

// New validates cfg and returns an Interceptor.
func New(cfg Config) (*Interceptor, error) {
	if cfg.Profile == nil {
		return nil, errors.New("forms: a profile is required")
	}
	if cfg.Dispatcher == nil {
		return nil, errors.New("forms: a dispatcher is required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RequestHeaders == nil {
		cfg.RequestHeaders = interception.DefaultRequestHeaders
	}
	i := &Interceptor{cfg: cfg, log: cfg.Logger}
	i.sessions, _ = cfg.Profile.(Sessions)
	return i, nil
}

// Raises lists the lifecycle events this interceptor raises.
func (i *Interceptor) Raises() []string {
	ids := []string{events.AfterIdentification, events.AtFailedAuthentication,
		events.BeforeRegistration, events.AfterRegistration, events.BeforePasswordReset}
	if i == nil || i.sessions != nil {
		// Only a profile that knows its IdP's account steps raises these.
		ids = append(ids, accountEvents...)
	}
	if i != nil && i.cfg.Directory != nil {
		ids = append(ids, events.BeforePasswordValidation)
	}
	return ids
}

// requestEvents and answerEvents are the events raised on a form's post
// and on the IdP's answer to it.
var (
	requestEvents = map[Form][]string{
		Login:        {events.AfterIdentification, events.BeforePasswordValidation},
		Registration: {events.BeforeRegistration},
		Reset:        {events.BeforePasswordReset},
	}
	answerEvents = map[Form][]string{
		Login:          {events.AtFailedAuthentication},
		OTP:            {events.AtFailedAuthentication},
		Registration:   {events.AtFailedAuthentication, events.AfterRegistration},
		UpdatePassword: {events.AfterPasswordReset},
		ConfigureOTP:   {events.AfterMFAChange},
		UpdateProfile:  {events.AfterAccountUpdate},
		DeleteAccount:  {events.AfterAccountDeletion},
	}
	// accountEvents are raised on the account steps after a login, whose
	// posts do not say who the customer is.
	accountEvents = []string{events.AfterPasswordReset, events.AfterMFAChange,
		events.AfterAccountUpdate, events.AfterAccountDeletion}
)

// ServeHTTP handles one request on its way to the IdP.
func (i *Interceptor) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return interception.Respond(w, i.serve(w, r, next))
}

func (i *Interceptor) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !interception.HasBody(r.Method) {
		return next.ServeHTTP(w, r)
	}
	f := i.cfg.Profile.Classify(r, interception.NormalizePath(r.URL.Path))
	if f == NoForm {
		return next.ServeHTTP(w, r)
	}
	read := false
	for _, g := range i.cfg.Profile.MayCarry(f) {
		read = read || i.wanted(requestEvents[g]) || i.wanted(answerEvents[g]) || i.remembers(g)
	}
	if !read {
		// Nobody listens: the post and its answer pass untouched.
		return next.ServeHTTP(w, r)
	}
	p, err := i.readPost(r, f)
	if err != nil {
		return err
	}
	// A post its fields made another form is judged as both (beforePost).
	onPost := i.wanted(requestEvents[p.form]) || (p.classified != p.form && i.wanted(requestEvents[p.classified]))
	onAnswer := i.wanted(answerEvents[p.form]) || i.remembers(p.form)
	if !onPost && !onAnswer {
		return next.ServeHTTP(w, r)
	}
	if onPost {
		done, err := i.beforePost(w, r, next, p)
		if done || err != nil {
			return err
		}
	}
	if !onAnswer {
		return next.ServeHTTP(w, r)
	}
	return i.answer(w, r, next, p)
}

// remembers reports whether the answer to a post of f tells who the IdP
// let in, for the events after it that do not say (the account steps,
// a failed one-time code, the password step of a username-then-password
// login): a login or a registration the IdP accepts, or the username
// step it moved on from, when a hook handles one of those events.
func (i *Interceptor) remembers(f Form) bool {
	return i.sessions != nil && (f == Login || f == OTP || f == Registration) &&
		(i.wanted(accountEvents) || i.wanted([]string{events.AtFailedAuthentication, events.BeforePasswordValidation}))
}

// wanted reports whether a hook handles any of ids.
func (i *Interceptor) wanted(ids []string) bool {
	for _, id := range ids {
		if id == events.BeforePasswordValidation && i.cfg.Directory == nil {
			continue
		}
		if i.cfg.Dispatcher.WantsEvent(id) {
			return true
		}
	}
	return false
}

// eventRequest is the request as hooks may see it.
func (i *Interceptor) eventRequest(r *http.Request) events.Request {
	return interception.EventRequest(r, i.cfg.RequestHeaders)
}
