package saml

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interception"
)

// serveMetadata answers with the IdP's metadata as SPs are to trust it:
// idphooks' certificates (the one signing now first, then the next and the
// retired ones of a rotation) in place of the IdP's, endpoints on the
// origin the SP asked on. It is built per request: SPs fetch it rarely,
// and a key rotation or an IdP change shows at once.
func (i *Interceptor) serveMetadata(w http.ResponseWriter, r *http.Request) error {
	d, err := i.cfg.IdP.document(r.Context())
	if err != nil {
		i.logOutage(err)
		return &interception.Error{Status: http.StatusBadGateway, Code: "temporarily_unavailable",
			Description: "identity provider metadata unavailable", Cause: err}
	}
	signer, err := i.signer()
	if err != nil {
		return &interception.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "signing key unavailable", Cause: err}
	}
	// Locations move from the origin idphooks fetched the metadata on (an
	// internal one, often) to the one the SP asked on; a file's stay.
	from, to := "", ""
	if i.cfg.IdP.URL != "" {
		from, to = interception.OriginOf(i.cfg.IdP.URL), interception.PublicOrigin(r)
	}
	out, err := PublishIdPMetadata(d.raw, PublishOptions{
		Signing:    currentFirst(signer.Certificate, i.cfg.Keys.SAMLCertificates()),
		Encryption: i.encryptionCertificates(),
		FromOrigin: from,
		ToOrigin:   to,
		Signer:     signer,
	})
	if err != nil {
		err = fmt.Errorf("publishing the IdP metadata: %w", err)
		i.log.Error("SAML metadata not served", zap.Error(err))
		return &interception.Error{Status: http.StatusBadGateway, Code: "server_error",
			Description: "identity provider metadata unusable", Cause: err}
	}
	h := w.Header()
	h.Set("Content-Type", "application/samlmetadata+xml")
	// Short: SPs that cache it must see a rotation's next key in time
	// (it is published days before it signs).
	h.Set("Cache-Control", "max-age=300")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
	return nil
}

// currentFirst puts cur before the other certificates, once.
func currentFirst(cur *x509.Certificate, all []*x509.Certificate) []*x509.Certificate {
	out := []*x509.Certificate{cur}
	for _, c := range all {
		if !c.Equal(cur) {
			out = append(out, c)
		}
	}
	return out
}
