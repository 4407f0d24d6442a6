package saml

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/upstream"
)

// IdP is the upstream IdP's metadata, the source of the certificates its
// messages are verified with: a URL, fetched by idphooks itself and cached
// (an hour fresh, the copy in hand kept while a refetch fails, backoff
// after failures), or a file read once per config load.
type IdP struct {
	// URL is where the document was fetched, "" for a file.
	URL string

	client *upstream.Client
	doc    upstream.Document[*idpDocument]

	unverified sync.Once
}

// noteUnverified says once, when the document is signed and no
// certificate is configured to check it with, that its signature is not
// checked: the operator may believe it is.
func (p *IdP) noteUnverified(raw []byte, o IdPOptions) {
	if len(o.Trust.Certificates) > 0 || o.Logger == nil || !bytes.Contains(raw, []byte(NSDSig)) {
		return
	}
	doc, err := Parse(raw, 0)
	if err != nil || doc.Root() == nil || child(doc.Root(), NSDSig, "Signature") == nil {
		return
	}
	p.unverified.Do(func() {
		o.Logger.Info("the IdP metadata is signed, and its signature is not checked: set idp_metadata_certificate to the certificate it is signed with")
	})
}

// idpDocument is one fetched metadata document: the bytes (republished
// with idphooks' certificates) and what idphooks reads of them.
type idpDocument struct {
	raw []byte
	md  *IdPMetadata
}

// metadataAccept is what an IdP's metadata endpoint answers to.
const metadataAccept = "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8"

// IdPOptions are NewIdPWith's.
type IdPOptions struct {
	// MaxBody caps the fetch (1 MiB when 0).
	MaxBody int64
	// Trust says how the document must be signed (see MetadataTrust); by
	// default it is used as fetched.
	Trust MetadataTrust
	// Logger is told of each refetched document refused (the copy in hand
	// stays in use meanwhile); nil: nothing is logged.
	Logger *zap.Logger
	// EntityID, when set, is the IdP the document must describe, from the
	// first fetch on: a key that signs one IdP's metadata (a
	// federation's) signs others' too.
	EntityID string
}

// NewIdP returns the IdP whose metadata is at source: an absolute http(s)
// URL, or a file. maxBody caps the fetch (1 MiB when 0).
func NewIdP(source string, maxBody int64) (*IdP, error) {
	return NewIdPWith(source, IdPOptions{MaxBody: maxBody})
}

// NewIdPWith is NewIdP with options: a document that o.Trust refuses is
// an error at once for a file; for a URL, the first fetch fails (SAML
// messages are refused until one is accepted) and a later one keeps the
// copy in hand, and says why in o.Logger.
func NewIdPWith(source string, o IdPOptions) (*IdP, error) {
	maxBody := o.MaxBody
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	if upstream.CheckAbsolute(source) == nil {
		p := &IdP{URL: source, client: upstream.NewClient(source, maxBody)}
		p.doc.Fetch = func(ctx context.Context) (*idpDocument, error) {
			raw, err := p.client.Get(ctx, source, metadataAccept)
			if err != nil {
				return nil, err
			}
			d, err := readIdPDocument(raw, o)
			if err == nil {
				p.noteUnverified(raw, o)
			}
			// A key that signs one IdP's metadata (a federation's) may sign
			// others': a refetched document naming another IdP than the
			// copy in hand would make that IdP's keys trusted for
			// responses, on the say of whoever answers the fetch.
			if held, ok := p.doc.Cached(); err == nil && ok && d.md.EntityID != held.md.EntityID {
				err = fmt.Errorf("%w: the metadata now describes the IdP %q, not %q", ErrStructure, d.md.EntityID, held.md.EntityID)
			}
			if err != nil {
				err = fmt.Errorf("IdP metadata at %s: %w", source, err)
				if _, held := p.doc.Cached(); held && o.Logger != nil {
					o.Logger.Error("IdP metadata refused; the copy fetched before stays in use", zap.Error(err))
				}
				return nil, err
			}
			return d, nil
		}
		return p, nil
	}
	raw, err := os.ReadFile(source)
	if err != nil {
		return nil, fmt.Errorf("IdP metadata: %w", err)
	}
	d, err := readIdPDocument(raw, o)
	if err != nil {
		return nil, fmt.Errorf("IdP metadata %s: %w", source, err)
	}
	p := &IdP{}
	p.noteUnverified(raw, o)
	p.doc.Fetch = func(context.Context) (*idpDocument, error) { return d, nil }
	// A file changes with a config reload, which builds a new IdP.
	p.doc.TTL = 100 * 365 * 24 * time.Hour
	return p, nil
}

// readIdPDocument verifies raw under o.Trust and reads it, holding it to
// o.EntityID.
func readIdPDocument(raw []byte, o IdPOptions) (*idpDocument, error) {
	raw, err := o.Trust.VerifyIdPMetadata(raw)
	if err != nil {
		return nil, err
	}
	md, err := ParseIdPMetadata(raw)
	if err != nil {
		return nil, err
	}
	if o.EntityID != "" && md.EntityID != o.EntityID {
		return nil, fmt.Errorf("%w: the metadata describes the IdP %q, and idp_entity_id is %q", ErrStructure, md.EntityID, o.EntityID)
	}
	return &idpDocument{raw: raw, md: md}, nil
}

// Metadata returns the IdP's metadata, fetching it when needed.
func (p *IdP) Metadata(ctx context.Context) (*IdPMetadata, error) {
	d, err := p.doc.Get(ctx)
	if err != nil {
		return nil, err
	}
	return d.md, nil
}

// document returns the metadata and the bytes it was read from.
func (p *IdP) document(ctx context.Context) (*idpDocument, error) {
	return p.doc.Get(ctx)
}

// Check fetches the metadata now, so a wrong URL or file shows at start.
func (p *IdP) Check(ctx context.Context) error {
	_, err := p.doc.Get(ctx)
	return err
}

// IsOwnFetch reports whether r is idphooks' own fetch of the metadata
// coming back through Caddy (idp_metadata on the public origin): it must
// reach the IdP, not be answered with the republished document.
func (p *IdP) IsOwnFetch(r *http.Request) bool {
	return p.client != nil && r.Method == http.MethodGet && p.client.IsOwnFetch(r)
}

// errNoMetadata wraps a failed fetch for the log and the page.
var errNoMetadata = errors.New("the identity provider's SAML metadata is unavailable")
