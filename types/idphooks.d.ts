// TypeScript declarations for idphooks hooks: the `event` and `api` each
// handler receives, and the sandbox globals. `caddy idp-hooks init DIR`
// writes this file with a jsconfig.json and a starter hook; or reference it
// from a hook:
//
//   // @ts-check
//   /// <reference path="./idphooks.d.ts" />
//   module.exports = /** @satisfies {IdpHooks.Module} */ ({
//     async onBeforeToken(event, api) { ... },
//   });
//
// @satisfies (not @type) is what makes tsc check the names: a misspelled
// handler (onBeforToken) is an unknown property, a non-function is not a
// Handler, and event and api still get their types from the name. A
// `/** @type {...} */ ({...})` cast lets a misspelled name through, and
// `/** @type {...} */ module.exports = {...}` is not checked at all.
//
// One handler at a time, the name is checked by the annotation and the whole
// module by a last line:
//
//   /** @type {IdpHooks.Handlers["onBeforeToken"]} */
//   exports.onBeforeToken = async (event, api) => { ... };
//   /** @satisfies {IdpHooks.OnlyHandlers<typeof exports>} */ (exports);
//
// Without one of these annotations TypeScript types `event` and `api` as
// any: it does not type `exports.x = ...` from the declarations below.
//
// These declarations are type-checked, with example hooks, by
// `go test ./types` (see types_test.go), which also checks that Handlers
// matches the event catalog (events/catalog.go), and that they compile both
// without the DOM (the sandbox's own globals) and with it (TypeScript's
// default lib).
//
// Hooks run in a sandbox: no file system, no process, no host modules.
// require() takes relative paths inside the hook's folder only. Built-ins
// and globals are frozen; nothing a run leaves behind is seen by the next.

declare namespace IdpHooks {
  type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };
  type Claims = { [claim: string]: JSONValue };

  // The claim sets below are intersections with Claims rather than
  // interfaces with an index signature: under strict, an optional property
  // (string | undefined) is not assignable to a JSONValue index signature,
  // and an intersection keeps both the typed claims and `JSONValue` for
  // every other name.

  /** The address claim, OpenID Connect Core §5.1.1. */
  interface AddressClaim {
    formatted?: string;
    street_address?: string;
    locality?: string;
    region?: string;
    postal_code?: string;
    country?: string;
  }

  /**
   * The standard claims of OpenID Connect Core §5.1, with the types the
   * spec gives them. All optional: the IdP sends what the scopes granted.
   */
  interface StandardClaims {
    sub?: string;
    name?: string;
    given_name?: string;
    family_name?: string;
    middle_name?: string;
    nickname?: string;
    preferred_username?: string;
    profile?: string;
    picture?: string;
    website?: string;
    email?: string;
    email_verified?: boolean;
    gender?: string;
    /** YYYY-MM-DD, or YYYY when only the year is shared. */
    birthdate?: string;
    zoneinfo?: string;
    locale?: string;
    phone_number?: string;
    phone_number_verified?: boolean;
    address?: AddressClaim & Claims;
    /** Seconds since the epoch. */
    updated_at?: number;
  }

  /**
   * The registered JWT claims (RFC 7519 §4.1) and those OpenID Connect
   * puts in tokens. Times are seconds since the epoch.
   */
  interface RegisteredClaims {
    iss?: string;
    sub?: string;
    aud?: string | string[];
    exp?: number;
    nbf?: number;
    iat?: number;
    jti?: string;
    auth_time?: number;
    nonce?: string;
    acr?: string;
    amr?: string[];
    azp?: string;
    sid?: string;
  }

  /**
   * The person: the ID token's claims (else the JWT access token's) without
   * those that describe the token (iss, aud, exp, nonce...). Empty ({}) when
   * the event has no user, so even sub may be missing.
   */
  type UserClaims = StandardClaims & Claims;

  /**
   * The claims OpenID Connect Core §2 requires are not optional. idphooks
   * verifies the signature, iss and exp; the others are the IdP's promise.
   */
  type IDTokenClaims = RegisteredClaims & StandardClaims &
    Required<Pick<RegisteredClaims, "iss" | "sub" | "aud" | "exp" | "iat">> & Claims;

  /** Only iss is sure (idphooks verifies it): not every IdP follows RFC 9068. */
  type AccessTokenClaims = RegisteredClaims & Required<Pick<RegisteredClaims, "iss">> & Claims;

  /** The UserInfo response always carries sub (OpenID Connect Core §5.3.2). */
  type UserinfoClaims = StandardClaims & Required<Pick<StandardClaims, "sub">> & Claims;

  /** What a hook may know of the HTTP request that raised the event. */
  interface Request {
    id: string;
    ip: string;
    method: string;
    host: string;
    path: string;
    /** Empty when the request had none. */
    user_agent: string;
    /** An allow-list only: cookies and credentials never reach hooks. */
    headers?: { [name: string]: string };
  }

  /** Fields every event carries. */
  interface BaseEvent<T extends EventType> {
    id: string;
    type: T;
    /** RFC 3339 time. */
    time: string;
    /** OIDC client_id or SAML SP entity id. */
    application: string;
    user: UserClaims;
    request: Request;
  }

  type EventType =
    | "before_token" | "after_token_refresh" | "before_userinfo" | "before_saml_assertion"
    | "after_identification" | "before_password_validation" | "at_failed_authentication"
    | "before_registration" | "after_registration" | "after_external_login"
    | "before_password_reset" | "after_login" | "after_password_reset"
    | "after_account_update" | "after_account_deletion" | "after_consent_update"
    | "after_mfa_change" | "after_logout" | "after_email_verification";

  interface TokenEvent<T extends EventType> extends BaseEvent<T> {
    grant_type: string;
    client_id: string;
    scope: string;
    access_token_format: "jwt" | "opaque";
    resource?: string[];
    audience?: string;
    /** Claims of the ID token, or null when none was issued. */
    id_token: IDTokenClaims | null;
    /** Claims of a JWT access token, or null when it is opaque. */
    access_token: AccessTokenClaims | null;
  }

  interface UserinfoEvent extends BaseEvent<"before_userinfo"> {
    client_id: string;
    userinfo: UserinfoClaims;
  }

  /** A SAML attribute, all its Attribute elements of one Name merged. */
  interface SAMLAttribute {
    name: string;
    /** urn:oasis:names:tc:SAML:2.0:attrname-format:basic, :uri, … ("" when absent). */
    name_format: string;
    friendly_name: string;
    values: string[];
  }

  /** What a before_saml_assertion hook sees of the verified Response. */
  interface SAMLView {
    /** The Assertion's Issuer: the upstream IdP's entity id. */
    issuer: string;
    /** The Response's Destination. */
    destination: string;
    /** The first Audience: the SP's entity id (also event.application). */
    sp_entity_id: string;
    audiences: string[];
    /** Where the browser posts the Response (SubjectConfirmationData Recipient). */
    acs_url: string;
    /** The AuthnRequest's ID; "" for an IdP-initiated login. */
    in_response_to: string;
    subject_in_response_to: string;
    /**
     * The Subject's NameID; an EncryptedID's once idphooks decrypted it
     * (with `decrypt`), all "" when it stays encrypted.
     */
    name_id: { value: string; format: string; name_qualifier: string; sp_name_qualifier: string };
    /**
     * By attribute Name; EncryptedAttributes idphooks decrypted are here
     * as if clear, those it cannot decrypt are absent.
     */
    attributes: { [name: string]: SAMLAttribute };
    authn_context_class_ref: string;
    session_index: string;
    status: { code: string; sub_code: string; message: string };
    /** Where the IdP signed. */
    signed: "response" | "assertion" | "both";
  }

  interface SAMLAssertionEvent extends BaseEvent<"before_saml_assertion"> {
    saml: SAMLView;
  }

  /**
   * A post of one of the IdP's own forms (the forms interceptor). `form`
   * holds each field once (a post repeating one is refused before any
   * hook), as the IdP will read it; every password, confirmation and
   * one-time code, and any field whose name says password, reads
   * "[redacted]". `user` is {} before the IdP has said who the customer
   * is; after_registration has the username and email posted.
   */
  interface FormEvent<T extends EventType> extends BaseEvent<T> {
    /** The username or email the customer typed; absent at the password step of a username-then-password flow. */
    identifier?: string;
    form: { [field: string]: string };
    /**
     * The form posted: the IdP's login (or its one-time code step),
     * registration or password reset, or one of the account steps after
     * a login (Keycloak's required actions).
     */
    form_type: "login" | "otp" | "registration" | "reset"
      | "update_password" | "configure_otp" | "update_profile" | "delete_account";
  }

  interface PasswordValidationEvent extends FormEvent<"before_password_validation"> {
    /**
     * The only event that sees a password, and only in sync hooks: raised
     * for identifiers the IdP does not know (lazy migration). Never log it.
     */
    password: string;
  }

  /** Normalised reasons of a failed login or registration. */
  type FailureReason = "invalid_credentials" | "invalid_otp" | "disabled" | "temporarily_locked" | "unknown_user"
    | "user_exists" | "email_exists" | "invalid_input" | "unknown";

  interface FailedAuthenticationEvent extends FormEvent<"at_failed_authentication"> {
    error: FailureReason;
    /** The IdP's own message, as its page shows it. */
    idp_message: string;
    /** The IdP's HTTP status (a failed post re-renders with 200). */
    status: number;
  }

  interface ExternalLoginEvent extends BaseEvent<"after_external_login"> {
    provider: string;
    external_user: Claims;
  }

  /**
   * An account step the IdP accepted (async): after_password_reset (a new
   * password: Keycloak's UPDATE_PASSWORD, also the last step of a reset),
   * after_mfa_change (a one-time code device set up), after_account_update
   * (the profile), after_account_deletion. The posts name nobody: `user`
   * and `identifier` are those of the flow's login as idphooks saw it
   * (sub, username and email from the IdP's user store when the profile
   * has an admin client), and both are absent when it saw none.
   */
  interface AccountEvent<T extends EventType> extends FormEvent<T> {
    user: { sub?: string; username?: string; email?: string };
  }

  interface MFAChangeEvent extends AccountEvent<"after_mfa_change"> {
    mfa_type: "totp";
    action: "added";
  }

  /** Async events carry the common fields and an event-specific part. */
  interface NotifyEvent<T extends EventType> extends BaseEvent<T> {
    [key: string]: unknown;
  }

  /**
   * after_login: a successful login was passed on to the application.
   * `user` is the person as the application received them (for SAML:
   * sub is the NameID, then the attributes, after the hooks' edits).
   */
  interface LoginEvent extends BaseEvent<"after_login"> {
    /** How the login reached the application. */
    protocol: "saml" | "oidc";
    /** SAML: the AuthnContextClassRef of the assertion. */
    authn_context?: string;
    /** SAML: the SessionIndex of the IdP session. */
    session_index?: string;
    /** OIDC: the grant that issued the tokens (authorization_code, password, device_code, ciba). */
    grant_type?: string;
    /** OIDC: the ID token's sid, acr, amr and auth_time, where it has them. */
    sid?: string;
    acr?: string;
    amr?: string[];
    auth_time?: number;
    [key: string]: unknown;
  }

  /**
   * after_logout: the IdP ended a session, at its OIDC end-session
   * endpoint (`user` is the person of the verified id_token_hint) or by a
   * verified SAML LogoutRequest to an SP (`user.sub` is the NameID the SP
   * knows, `user.name_id_format` its format).
   */
  interface LogoutEvent extends BaseEvent<"after_logout"> {
    protocol: "oidc" | "saml";
    /** OIDC: the client the hint was issued to (its azp, or its one aud). */
    client_id?: string;
    /** OIDC: the hint's sid, when it names the session. */
    sid?: string;
    /** SAML: the IdP's entity id, the LogoutRequest's Issuer. */
    issuer?: string;
    /** SAML: the SessionIndexes the LogoutRequest names. */
    session_indexes?: string[];
    [key: string]: unknown;
  }

  interface ClaimsAPI {
    /** Sets a claim. Protected claims (iss, sub, aud, exp, nonce, ...) throw unless unlocked in config. */
    setClaim(name: string, value: JSONValue): void;
    removeClaim(name: string): void;
  }
  interface Deny {
    /** Stops the flow with a reason shown to the client. */
    deny(reason: string): void;
  }
  interface Redirect {
    /** Sends the browser to url instead of continuing. */
    redirect(url: string): void;
  }

  interface BeforeTokenAPI extends Deny { idToken: ClaimsAPI; accessToken: ClaimsAPI; }
  interface AfterTokenRefreshAPI extends Deny {}
  interface BeforeUserinfoAPI extends Deny { userinfo: ClaimsAPI; }
  interface BeforeSAMLAssertionAPI extends Deny {
    assertion: {
      /** Replaces every Attribute element of that Name; new ones take the document's namespace prefix. */
      setAttribute(name: string, values: string | string[], options?: { nameFormat?: string; friendlyName?: string }): void;
      removeAttribute(name: string): void;
      setNameID(value: string, format?: string): void;
    };
  }
  interface AfterIdentificationAPI extends Deny, Redirect {}
  /** Who to create in the IdP when a legacy store accepted the password. */
  interface MigratedUser {
    /** Default: the identifier typed. */
    username?: string;
    /** Default: the identifier, when it is an email. */
    email?: string;
    first_name?: string;
    last_name?: string;
    attributes?: { [name: string]: string | string[] };
  }
  interface BeforePasswordValidationAPI {
    /**
     * The password is valid (checked against a legacy store): the user is
     * created in the IdP with it, and the login goes on there.
     */
    accept(user?: MigratedUser): void;
    /** The password is wrong: the IdP's page shows reason (default: its own wording). */
    reject(reason?: string): void;
  }
  interface AtFailedAuthenticationAPI extends Redirect {
    replaceError(message: string): void;
  }
  interface BeforeRegistrationAPI extends Deny, Redirect {
    form: { setField(name: string, value: string): void; removeField(name: string): void; };
  }
  interface AfterRegistrationAPI extends Redirect {}
  interface AfterExternalLoginAPI extends Deny, Redirect {}
  interface BeforePasswordResetAPI extends Deny {}
  /** Async hooks are told after the fact and can change nothing. */
  interface NotifyAPI {}

  type Handler<E, A> = (event: E, api: A) => void | Promise<void>;

  /**
   * The handlers a hook file may export, by name: "on" and the event id in
   * CamelCase. The api types are those of each event's default mode; a hook
   * configured to run async gets an empty api whatever the event.
   */
  interface Handlers {
    onBeforeToken: Handler<TokenEvent<"before_token">, BeforeTokenAPI>;
    onAfterTokenRefresh: Handler<TokenEvent<"after_token_refresh">, AfterTokenRefreshAPI>;
    onBeforeUserinfo: Handler<UserinfoEvent, BeforeUserinfoAPI>;
    onBeforeSamlAssertion: Handler<SAMLAssertionEvent, BeforeSAMLAssertionAPI>;
    onAfterIdentification: Handler<FormEvent<"after_identification">, AfterIdentificationAPI>;
    onBeforePasswordValidation: Handler<PasswordValidationEvent, BeforePasswordValidationAPI>;
    onAtFailedAuthentication: Handler<FailedAuthenticationEvent, AtFailedAuthenticationAPI>;
    onBeforeRegistration: Handler<FormEvent<"before_registration">, BeforeRegistrationAPI>;
    onAfterRegistration: Handler<FormEvent<"after_registration">, AfterRegistrationAPI>;
    onAfterExternalLogin: Handler<ExternalLoginEvent, AfterExternalLoginAPI>;
    onBeforePasswordReset: Handler<FormEvent<"before_password_reset">, BeforePasswordResetAPI>;
    onAfterLogin: Handler<LoginEvent, NotifyAPI>;
    onAfterPasswordReset: Handler<AccountEvent<"after_password_reset">, NotifyAPI>;
    onAfterAccountUpdate: Handler<AccountEvent<"after_account_update">, NotifyAPI>;
    onAfterAccountDeletion: Handler<AccountEvent<"after_account_deletion">, NotifyAPI>;
    onAfterConsentUpdate: Handler<NotifyEvent<"after_consent_update">, NotifyAPI>;
    onAfterMfaChange: Handler<MFAChangeEvent, NotifyAPI>;
    onAfterLogout: Handler<LogoutEvent, NotifyAPI>;
    onAfterEmailVerification: Handler<NotifyEvent<"after_email_verification">, NotifyAPI>;
  }

  /**
   * A hook module: any of the handlers, and nothing else. Having no index
   * signature is the point: checked with @satisfies, an unknown name (a
   * misspelled handler, which the sandbox would silently never call) is an
   * error. A module that also exports helpers names them:
   * `@satisfies {IdpHooks.Module & { normalize: typeof normalize }}`.
   */
  type Module = Partial<Handlers>;

  /**
   * Maps every export of M that is not a handler to never: `exports`
   * checked with `@satisfies {IdpHooks.OnlyHandlers<typeof exports>}` fails
   * on a misspelled `exports.onX = ...`, naming it (see the top of this file).
   */
  type OnlyHandlers<M> = { [K in keyof M]: K extends keyof Handlers ? Handlers[K] : never };

  interface FetchInit {
    method?: string;
    headers?: { [name: string]: string } | [string, string][];
    /** Strings or bytes; JSON.stringify objects yourself. At most 1 MiB. */
    body?: string | Uint8Array | ArrayBuffer;
    redirect?: "follow" | "manual" | "error";
  }
  interface Headers {
    get(name: string): string | null;
    has(name: string): boolean;
    forEach(cb: (value: string, name: string) => void): void;
  }
  interface Response {
    readonly status: number;
    readonly statusText: string;
    readonly ok: boolean;
    readonly url: string;
    readonly redirected: boolean;
    readonly headers: Headers;
    text(): Promise<string>;
    json(): Promise<any>;
    arrayBuffer(): Promise<ArrayBuffer>;
  }
  /** Bytes for crypto: strings are taken as UTF-8. */
  type BytesLike = string | Uint8Array | ArrayBuffer;
  type Encoding = "hex" | "base64" | "base64url";
  /** The sandbox also accepts these case-insensitively and without the dash. */
  type Digest = "SHA-256" | "SHA-384" | "SHA-512";
}

// The sandbox's fetch, console and crypto share their names with the DOM's,
// which TypeScript includes by default (no "lib" in tsconfig.json), and a
// hook may be checked either way. So console and crypto are `var`s of the
// interfaces Console and Crypto, declared exactly as lib.dom.d.ts declares
// them: a repeated `declare var` of the same type is allowed and the
// interfaces merge, where a `const` of another type would be a redeclaration.
// Without the DOM (the jsconfig.json `idp-hooks init` writes) these
// interfaces are the whole of console and crypto; with it, the DOM's members
// are there too. fetch is a function, which merges as an overload; the DOM's
// signature comes first and accepts more. Only the no-DOM check is exact.

/**
 * WHATWG-shaped fetch. Bounded by the hook's timeout and a response size
 * cap; private, loopback, link-local and metadata addresses are refused
 * (also via DNS and redirects) unless allowed in the hook's config. At most
 * 20 requests per run.
 */
declare function fetch(url: string, init?: IdpHooks.FetchInit): Promise<IdpHooks.Response>;

/** Secrets declared in the hook's config. Read-only; redacted from logs and errors. */
declare const secrets: { readonly [name: string]: string };

/** Writes to the server log with the hook, event and request id. At most 100 lines of 4 KiB per run. */
interface Console {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
declare var console: Console;

/**
 * A small per-hook cache that survives between runs. Values are stored as
 * JSON (at most 64 KiB), so get returns a copy. Keys are 1 to 512 bytes.
 * Bad arguments throw a TypeError at once rather than rejecting.
 */
declare const cache: {
  get(key: string): Promise<IdpHooks.JSONValue | undefined>;
  /** ttl in seconds; default 300, at most 86400. */
  set(key: string, value: IdpHooks.JSONValue, options?: { ttl?: number }): Promise<void>;
  delete(key: string): Promise<void>;
};

/**
 * Not WebCrypto: digests and MACs are synchronous and return encoded
 * strings (hex unless an encoding is given).
 */
interface Crypto {
  randomUUID(): string;
  /** Fills the array in place and returns it. At most 65536 bytes. */
  getRandomValues<T extends Uint8Array>(array: T): T;
  digest(algorithm: IdpHooks.Digest, data: IdpHooks.BytesLike, encoding?: IdpHooks.Encoding): string;
  hmac(algorithm: IdpHooks.Digest, key: IdpHooks.BytesLike, data: IdpHooks.BytesLike, encoding?: IdpHooks.Encoding): string;
  /** Constant-time comparison; false when the lengths differ. */
  timingSafeEqual(a: IdpHooks.BytesLike, b: IdpHooks.BytesLike): boolean;
}
declare var crypto: Crypto;

// A hook file is a CommonJS module: require, module, exports, __filename
// and __dirname are its module wrapper's parameters, as in Node.

/**
 * CommonJS: paths starting with ./ or ../ that stay inside the hook's folder
 * (.js, .cjs, .json, or a folder's index.js); no host modules, no
 * node_modules.
 */
declare function require(path: `./${string}` | `../${string}`): any;
declare const module: { exports: Partial<IdpHooks.Handlers> & { [name: string]: unknown } };
declare const exports: Partial<IdpHooks.Handlers> & { [name: string]: unknown };
declare const __filename: string;
declare const __dirname: string;
