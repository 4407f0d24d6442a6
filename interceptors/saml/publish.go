package saml

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// nsShibMD is the Shibboleth metadata extension namespace (KeyAuthority).
const nsShibMD = "urn:mace:shibboleth:metadata:1.0"

// PublishOptions says what PublishIdPMetadata puts in place of the
// upstream's keys and origin.
type PublishOptions struct {
	// Signing are idphooks' signing certificates, current first, then the
	// next and retired ones during a rotation. At least one is required.
	Signing []*x509.Certificate
	// Encryption, when not empty, replaces the IdP's encryption
	// KeyDescriptors (idphooks decrypts then); when empty the IdP's
	// encryption certificates stay.
	Encryption []*x509.Certificate
	// FromOrigin, ToOrigin: endpoint Locations/ResponseLocations on
	// FromOrigin (scheme://host[:port], compared case-insensitively on
	// host, default ports implied) are moved to ToOrigin; others stay.
	// Both empty: nothing moves.
	FromOrigin, ToOrigin string
	// Signer re-signs the document when the upstream one was signed (nil:
	// a signed upstream document is an error).
	Signer *Signer
}

// PublishIdPMetadata turns the upstream IdP's metadata (an EntityDescriptor,
// or the one IdP of an EntitiesDescriptor) into what idphooks publishes:
// SPs must trust only idphooks' keys, or upstream responses replayed to
// them past idphooks would skip the hooks.
//
// In every role descriptor of the IdP entity, the KeyDescriptors that can
// sign (use "signing", none, or one the schema does not know) give way to
// o.Signing. Roles idphooks does not sign for (AttributeAuthority, WS-Fed
// RoleDescriptors, ...) get ours too rather than none: SP libraries that
// pool an entity's certificates would otherwise trust the upstream key,
// and SPs that want a key per role still load the document; those roles'
// messages, unhooked, then fail at the SP as they should. For the same
// pooling, an encryption key that is also one the IdP signs with goes
// (SimpleSAMLphp lists its one certificate for both uses; a KeyDescriptor
// without use is both); a separate encryption key stays for SPs that
// encrypt to the IdP, unless o.Encryption replaces the IDPSSODescriptor's
// encryption keys.
// Shibboleth KeyAuthority trust anchors go for the same reason as keys.
//
// Locations anywhere in the IdP entity move from o.FromOrigin to
// o.ToOrigin; the entityID stays, as SPs match it with every Issuer.
//
// A document signed anywhere loses every upstream signature and is signed
// at its root with o.Signer, validUntil and cacheDuration kept; an
// unsigned one stays unsigned. SAML wants the Reference to name the
// signed element's ID (saml-core 5.4.2; not every SP takes URI=""), so a
// root without ID gets a fresh one, which the schema allows. The upstream
// signature is not checked: trust in the document comes from idphooks'
// own fetch of it.
func PublishIdPMetadata(raw []byte, o PublishOptions) ([]byte, error) {
	if len(o.Signing) == 0 {
		return nil, errors.New("saml: publish: no signing certificate")
	}
	for _, c := range slices.Concat(o.Signing, o.Encryption) {
		if c == nil || len(c.Raw) == 0 {
			return nil, errors.New("saml: publish: empty certificate")
		}
	}
	move, err := newOriginMove(o.FromOrigin, o.ToOrigin)
	if err != nil {
		return nil, err
	}
	doc, err := Parse(raw, 0)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	ed, err := idpEntity(root)
	if err != nil {
		return nil, err
	}
	if ed.SelectAttrValue("entityID", "") == "" {
		return nil, fmt.Errorf("%w: metadata: EntityDescriptor without entityID", ErrStructure)
	}
	if err := othersHoldIdP(root, ed); err != nil {
		return nil, err
	}
	signed := hasSignature(root)
	if signed {
		if o.Signer == nil {
			return nil, errors.New("saml: publish: the upstream metadata is signed and there is no signer to sign it anew")
		}
		// signElement trusts its Signer to be usable.
		if _, _, err := o.Signer.method(); err != nil {
			return nil, err
		}
	}
	stripSignatures(root)
	var roles []*etree.Element
	for _, rd := range ed.ChildElements() {
		if rd.NamespaceURI() == NSMetadata && strings.HasSuffix(rd.Tag, "Descriptor") {
			roles = append(roles, rd)
		}
	}
	signing := signingKeys(roles)
	for _, rd := range roles {
		rekey(rd, rd.Tag == "IDPSSODescriptor", signing, o)
	}
	holders := []*etree.Element{root}
	if ed != root {
		holders = append(holders, ed)
	}
	for _, el := range holders {
		if ext := child(el, NSMetadata, "Extensions"); ext != nil {
			for _, ka := range children(ext, nsShibMD, "KeyAuthority") {
				removeWithIndent(ka)
			}
			// The schema wants at least one extension in Extensions.
			if len(ext.ChildElements()) == 0 {
				removeWithIndent(ext)
			}
		}
	}
	if move != nil {
		moveLocations(ed, move)
	}
	if signed {
		id := root.SelectAttrValue("ID", "")
		if id == "" {
			if id, err = newMetadataID(); err != nil {
				return nil, err
			}
			root.CreateAttr("ID", id)
		} else if countID(root, id) > 1 {
			return nil, fmt.Errorf("%w: metadata ID %q is not unique", ErrWrapping, id)
		}
		if err := o.Signer.signElement(root, xsiTypePrefixes(root)); err != nil {
			return nil, err
		}
	}
	return serialize(doc)
}

// othersHoldIdP refuses an EntitiesDescriptor holding another
// EntityDescriptor with the IdP's entityID: only the one with the
// IDPSSODescriptor is rekeyed, and SPs merging or indexing entities by
// entityID (a later one replacing an earlier) would trust the upstream
// keys the other keeps.
func othersHoldIdP(root, idp *etree.Element) error {
	if root == idp {
		return nil
	}
	id := strings.TrimSpace(idp.SelectAttrValue("entityID", ""))
	var walk func(*etree.Element) error
	walk = func(el *etree.Element) error {
		for _, c := range el.ChildElements() {
			switch {
			case c == idp:
			case is(c, NSMetadata, "EntityDescriptor"):
				if strings.TrimSpace(c.SelectAttrValue("entityID", "")) == id {
					return fmt.Errorf("%w: metadata: two EntityDescriptors for %s", ErrStructure, id)
				}
			case is(c, NSMetadata, "EntitiesDescriptor"):
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root)
}

// signingKeys are the public keys (SubjectPublicKeyInfo DER) of every
// upstream KeyDescriptor that can sign, in any role of the entity.
func signingKeys(roles []*etree.Element) map[string]bool {
	keys := map[string]bool{}
	for _, rd := range roles {
		for _, kd := range children(rd, NSMetadata, "KeyDescriptor") {
			if strings.TrimSpace(kd.SelectAttrValue("use", "")) == "encryption" {
				continue
			}
			certs, _ := keyCertificates(kd)
			for _, c := range certs {
				keys[string(c.RawSubjectPublicKeyInfo)] = true
			}
		}
	}
	return keys
}

// signsToo reports whether an encryption KeyDescriptor holds a key the IdP
// also signs with (SimpleSAMLphp lists its one certificate for both), or
// one that cannot be read: an SP pooling the entity's certificates would
// trust it for responses.
func signsToo(kd *etree.Element, signing map[string]bool) bool {
	certs, err := keyCertificates(kd)
	if err != nil {
		return true
	}
	for _, c := range certs {
		if signing[string(c.RawSubjectPublicKeyInfo)] {
			return true
		}
	}
	return false
}

// rekey replaces rd's signing KeyDescriptors with ours; idp says rd is an
// IDPSSODescriptor, which always gets ours and whose encryption keys
// o.Encryption replaces. An upstream encryption key that is also one of
// its signing keys (signing) goes too: no upstream key idphooks does not
// stand behind stays where an SP may trust it for signatures.
func rekey(rd *etree.Element, idp bool, signing map[string]bool, o PublishOptions) {
	replaceEncryption := idp && len(o.Encryption) > 0
	var drop []*etree.Element
	var anchor *etree.Element
	canSign := false
	for _, kd := range children(rd, NSMetadata, "KeyDescriptor") {
		if anchor == nil {
			anchor = kd
		}
		switch use := strings.TrimSpace(kd.SelectAttrValue("use", "")); use {
		case "encryption":
			if replaceEncryption || signsToo(kd, signing) {
				drop = append(drop, kd)
			}
		case "":
			// "Both": the key signs, so it goes whole.
			canSign = true
			drop = append(drop, kd)
		default:
			canSign = true
			drop = append(drop, kd)
		}
	}
	var add []*etree.Element
	if idp || canSign {
		for _, c := range o.Signing {
			add = append(add, keyDescriptor(rd.Space, "signing", c))
		}
	}
	if replaceEncryption {
		for _, c := range o.Encryption {
			add = append(add, keyDescriptor(rd.Space, "encryption", c))
		}
	}
	if anchor == nil {
		// Schema order: KeyDescriptors follow Signature and Extensions
		// (the signature is gone by now) and precede everything else.
		for _, c := range rd.ChildElements() {
			if !is(c, NSMetadata, "Extensions") {
				anchor = c
				break
			}
		}
	}
	at, indent := len(rd.Child), ""
	if anchor != nil {
		at, indent = anchor.Index(), precedingSpace(anchor)
	}
	for _, kd := range add {
		rd.InsertChildAt(at, kd)
		at++
		if indent != "" {
			rd.InsertChildAt(at, etree.NewCharData(indent))
			at++
		}
	}
	for _, kd := range drop {
		removeWithIndent(kd)
	}
}

// keyDescriptor is one KeyDescriptor for c, its md prefix the one of the
// role it goes in (in scope there), ds declared on KeyInfo so that it
// never depends on what the document declares.
func keyDescriptor(mdPrefix, use string, c *x509.Certificate) *etree.Element {
	kd := etree.NewElement("KeyDescriptor")
	kd.Space = mdPrefix
	kd.CreateAttr("use", use)
	ki := kd.CreateElement("KeyInfo")
	ki.Space = "ds"
	ki.CreateAttr("xmlns:ds", NSDSig)
	xd := ki.CreateElement("X509Data")
	xd.Space = "ds"
	xc := xd.CreateElement("X509Certificate")
	xc.Space = "ds"
	xc.SetText(base64.StdEncoding.EncodeToString(c.Raw))
	return kd
}

// precedingSpace is the indentation before el, if the document has any.
func precedingSpace(el *etree.Element) string {
	i := el.Index()
	if p := el.Parent(); p != nil && i > 0 {
		if cd, ok := p.Child[i-1].(*etree.CharData); ok && strings.TrimSpace(cd.Data) == "" {
			return cd.Data
		}
	}
	return ""
}

// removeWithIndent removes el and the indentation before it, so that a
// pretty-printed document stays so.
func removeWithIndent(el *etree.Element) {
	p := el.Parent()
	if p == nil {
		return
	}
	i := el.Index()
	p.RemoveChildAt(i)
	if i > 0 {
		if cd, ok := p.Child[i-1].(*etree.CharData); ok && strings.TrimSpace(cd.Data) == "" {
			p.RemoveChildAt(i - 1)
		}
	}
}

func hasSignature(el *etree.Element) bool {
	for _, c := range el.ChildElements() {
		if is(c, NSDSig, "Signature") || hasSignature(c) {
			return true
		}
	}
	return false
}

// countID counts the ID attributes (isIDAttr, any prefix) holding id in
// el's subtree.
func countID(el *etree.Element, id string) int {
	n := 0
	for _, a := range el.Attr {
		if isIDAttr(a) && a.Value == id {
			n++
		}
	}
	for _, c := range el.ChildElements() {
		n += countID(c, id)
	}
	return n
}

func newMetadataID() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	// An xs:ID is an NCName: it must not start with a digit.
	return "ID_" + hex.EncodeToString(b), nil
}

// xsiTypePrefixes are the declared prefixes used in xsi:type values (xs in
// EntityAttributes): signed as InclusiveNamespaces, their declarations
// stay in the canonical form an SP reads after verifying.
func xsiTypePrefixes(root *etree.Element) []string {
	var out []string
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		for i := range el.Attr {
			a := &el.Attr[i]
			if a.Key != "type" || a.NamespaceURI() != NSXSI {
				continue
			}
			if p, _, ok := strings.Cut(strings.TrimSpace(a.Value), ":"); ok && lookupPrefix(el, p) != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	slices.Sort(out)
	return out
}

// originMove moves URLs from one origin to another.
type originMove struct {
	scheme, host, port string
	to                 string
}

func newOriginMove(from, to string) (*originMove, error) {
	if from == "" && to == "" {
		return nil, nil
	}
	f, err := parseOrigin(from)
	if err != nil {
		return nil, err
	}
	t, err := parseOrigin(to)
	if err != nil {
		return nil, err
	}
	return &originMove{scheme: f.Scheme, host: strings.ToLower(f.Hostname()), port: portOf(f), to: t.Scheme + "://" + t.Host}, nil
}

func parseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("saml: publish: %q is not an origin (scheme://host[:port])", s)
	}
	return u, nil
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch u.Scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// rewrite gives loc on m's target origin when it is on m's source one,
// the rest of it (path, query, fragment) as written.
func (m *originMove) rewrite(loc string) (string, bool) {
	// xs:anyURI collapses white space: an SP may well trim it.
	s := strings.TrimSpace(loc)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Scheme != m.scheme || strings.ToLower(u.Hostname()) != m.host || portOf(u) != m.port {
		return "", false
	}
	rest, ok := strings.CutPrefix(s[len(u.Scheme)+1:], "//")
	if !ok {
		return "", false
	}
	// url.Parse ends the authority at the first of these.
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return m.to + rest[i:], true
	}
	return m.to, true
}

// moveLocations rewrites every Location and ResponseLocation under el:
// md endpoints and extension ones alike.
func moveLocations(el *etree.Element, m *originMove) {
	for i := range el.Attr {
		a := &el.Attr[i]
		if a.Space == "" && (a.Key == "Location" || a.Key == "ResponseLocation") {
			if v, ok := m.rewrite(a.Value); ok {
				a.Value = v
			}
		}
	}
	for _, c := range el.ChildElements() {
		moveLocations(c, m)
	}
}
