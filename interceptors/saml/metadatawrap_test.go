package saml

import (
	"errors"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestEntitySignedAggregateWrapping: shapes of an entity-signed
// aggregate that would let an unsigned IdP entity, or unsigned bytes in
// the signed one, be read; each is refused or read as signed.
func TestEntitySignedAggregateWrapping(t *testing.T) {
	signed := federationAggregate(t, "", "ID_kc1")
	ed := regexpFind(signed, `(?s)<md:EntityDescriptor [^>]*ID="ID_kc1".*?</md:EntityDescriptor>`)
	sig := regexpFind(ed, `(?s)<ds:Signature .*?</ds:Signature>`)
	_, hk := keys()
	unsignedTwin := strings.Replace(strings.Replace(ed, sig, "", 1), `ID="ID_kc1"`, `ID="ID_twin"`, 1)
	unsignedTwin = swapIdPCert(t, unsignedTwin)
	cases := map[string]struct {
		xml  string
		want error
	}{
		"an unsigned twin of the IdP beside it": {strings.Replace(signed, "</md:EntitiesDescriptor>", unsignedTwin+"</md:EntitiesDescriptor>", 1), ErrStructure},
		"the signed entity nested, a twin at the top": {strings.Replace(signed, ed,
			`<md:EntitiesDescriptor>`+ed+`</md:EntitiesDescriptor>`+unsignedTwin, 1), ErrMetadataUnsigned},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := metadataTrust().VerifyIdPMetadata([]byte(c.xml))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// A comment splitting the certificate's text, outside what the
	// signature covers (readers taking the first text node would read
	// part of it), is refused.
	cert := regexpFind(ed, `<ds:X509Certificate>[^<]*</ds:X509Certificate>`)
	body := strings.TrimSuffix(strings.TrimPrefix(cert, "<ds:X509Certificate>"), "</ds:X509Certificate>")
	split := "<ds:X509Certificate>" + body[:20] + "<!--" + b64(hk.cert)[:8] + "-->" + body[20:] + "</ds:X509Certificate>"
	if _, err := metadataTrust().VerifyIdPMetadata([]byte(strings.Replace(signed, cert, split, 1))); !errors.Is(err, ErrWrapping) {
		t.Fatalf("a comment in the certificate: %v", err)
	}
}

// aggregateIdP is the IdP federationAggregate describes.
const aggregateIdP = "http://127.0.0.1:8080/realms/acme"

// otherMember is another IdP of the federation: its own entityID and
// signing certificate, its entity signed by the federation's key.
func otherMember(t *testing.T) string {
	other := federationAggregate(t, "")
	other = swapIdPCert(t, strings.Replace(other, `entityID="`+aggregateIdP+`"`, `entityID="https://idp.other.test/"`, 1))
	return idpSign(t, other, "ds", "ID_kc1")
}

// TestIdPRefetchKeepsEntity: a refetched document describing another IdP
// signed by the same (federation's) key is refused, and the copy in hand
// kept: its keys would otherwise verify responses.
func TestIdPRefetchKeepsEntity(t *testing.T) {
	good := federationAggregate(t, "", "ID_kc1")
	_, hk := keys()
	other := otherMember(t)
	url, serve := metadataServer(t, good)
	core, logs := observer.New(zapcore.InfoLevel)
	p, err := NewIdPWith(url+"/federation", IdPOptions{Trust: metadataTrust(), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	md, err := p.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metadataTrust().VerifyIdPMetadata([]byte(other)); err != nil {
		t.Fatalf("the other IdP's entity does not verify on its own: %v", err)
	}
	serve(other)
	p.doc.Invalidate()
	again, err := p.Metadata(t.Context())
	if err != nil || again != md || again.Signing[0].Equal(hk.cert) {
		t.Fatalf("another IdP's metadata replaced the copy in hand: %v %q", err, again.EntityID)
	}
	if got := logs.FilterMessageSnippet("IdP metadata refused").All(); len(got) != 1 || !strings.Contains(got[0].ContextMap()["error"].(string), "idp.other.test") {
		t.Fatalf("log %+v", got)
	}
}

// TestIdPEntityIDPinned: with idp_entity_id, the first fetch too must
// describe that IdP (another member of the federation, signed by the same
// key, is refused), and so must a file.
func TestIdPEntityIDPinned(t *testing.T) {
	other := otherMember(t)
	url, _ := metadataServer(t, other)
	p, err := NewIdPWith(url+"/federation", IdPOptions{Trust: metadataTrust(), EntityID: aggregateIdP})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := p.Metadata(t.Context()); !errors.Is(err, ErrStructure) || !strings.Contains(err.Error(), "idp_entity_id") {
		t.Fatalf("another IdP at the first fetch: %v %v", md, err)
	}
	// Without the option, the first fetch has nothing to be held to.
	p, _ = NewIdPWith(url+"/federation", IdPOptions{Trust: metadataTrust()})
	if _, err := p.Metadata(t.Context()); err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/idp.xml"
	if err := os.WriteFile(file, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIdPWith(file, IdPOptions{Trust: metadataTrust(), EntityID: aggregateIdP}); !errors.Is(err, ErrStructure) {
		t.Fatalf("another IdP in a file: %v", err)
	}
	good := federationAggregate(t, "", "ID_kc1")
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIdPWith(file, IdPOptions{Trust: metadataTrust(), EntityID: aggregateIdP}); err != nil {
		t.Fatalf("our IdP: %v", err)
	}
}
