// prelude.js runs once in every pooled runtime, before any hook code.
//
// 1. It bounds the built-ins whose single native call can allocate without
//    limit or loop for seconds: goja interrupts only between JavaScript
//    instructions, never inside a native function.
// 2. It makes the common "override" assignments (this.name = ... in an
//    Error subclass) keep working once prototypes are frozen.
// 3. It freezes everything reachable from the global scope, so nothing a
//    call does to shared objects is visible to the next call.
(function (maxString, maxArray) {
  "use strict";
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, freeze } = Object;
  const { apply, construct, ownKeys } = Reflect;
  const G = globalThis;

  function tooBig(what) {
    throw new RangeError(what + " exceeds the sandbox size limit");
  }

  // guard replaces obj[name] with a method that runs check first.
  function guard(obj, name, check) {
    const orig = obj[name];
    const wrapped = {
      [name](...args) {
        check(this, args);
        return apply(orig, this, args);
      },
    }[name];
    defineProperty(obj, name, { value: wrapped, writable: true, configurable: true });
  }

  const strLen = (s) => String(s).length;
  guard(String.prototype, "repeat", (s, [n]) => {
    if (strLen(s) * Number(n) > maxString) tooBig("String.prototype.repeat");
  });
  for (const pad of ["padStart", "padEnd"]) {
    guard(String.prototype, pad, (s, [n]) => {
      if (Number(n) > maxString) tooBig("String.prototype." + pad);
    });
  }
  // Array methods loop natively over length, holes included.
  for (const m of ["fill", "join", "map", "forEach", "filter", "reduce", "reduceRight",
    "indexOf", "lastIndexOf", "includes", "some", "every", "find", "findIndex",
    "sort", "reverse", "slice", "splice", "copyWithin", "flat", "flatMap", "toString"]) {
    guard(Array.prototype, m, (a) => {
      if (a != null && a.length > maxArray) tooBig("Array.prototype." + m + " on a huge array");
    });
  }
  guard(Array, "from", (_, [src]) => {
    if (src != null && src.length > maxArray) tooBig("Array.from");
  });
  guard(Array.prototype, "toLocaleString", (a) => {
    if (a != null && a.length > maxArray) tooBig("Array.prototype.toLocaleString on a huge array");
  });

  // Methods whose output is far larger than their input: bound the total,
  // counted in JavaScript (interruptible) before the native call.
  function joinedLength(a, sep) {
    let n = a.length > 0 ? (a.length - 1) * sep : 0;
    for (let i = 0; i < a.length && n <= maxString; i++) {
      const e = a[i];
      if (e != null) n += String(e).length;
    }
    return n;
  }
  for (const m of ["join", "toString", "toLocaleString"]) {
    guard(Array.prototype, m, (a, [sep]) => {
      if (a != null && joinedLength(a, m === "join" && sep !== undefined ? strLen(sep) : 1) > maxString) {
        tooBig("Array.prototype." + m);
      }
    });
  }
  for (const m of ["replace", "replaceAll"]) {
    guard(String.prototype, m, (s, [, r]) => {
      if (typeof r === "string" && strLen(s) * Math.max(1, r.length) > maxString) tooBig("String.prototype." + m);
    });
  }
  guard(String.prototype, "concat", (s, args) => {
    let n = strLen(s);
    for (const a of args) n += strLen(a);
    if (n > maxString) tooBig("String.prototype.concat");
  });
  guard(Array.prototype, "concat", (a, args) => {
    let n = a.length;
    for (const x of args) n += x != null && typeof x.length === "number" ? x.length : 1;
    if (n > maxArray) tooBig("Array.prototype.concat");
  });
  // JSON.stringify's output size, estimated by a walk that stops at the
  // limit; cycles are left to stringify's own error.
  function jsonSize(v, seen, budget) {
    if (v === null || typeof v !== "object") {
      return typeof v === "string" ? v.length + 2 : 24;
    }
    if (seen.has(v)) return 0;
    seen.add(v);
    let n = 2;
    for (const k of Object.keys(v)) {
      n += k.length + 4 + jsonSize(v[k], seen, budget - n);
      if (n > budget) break;
    }
    return n;
  }
  guard(JSON, "stringify", (_, [v]) => {
    if (jsonSize(v, new WeakSet(), maxString) > maxString) tooBig("JSON.stringify");
  });

  // Constructors whose numeric argument is an allocation size.
  function sized(name, limit) {
    const C = G[name];
    const check = (args) => {
      if (typeof args[0] === "number" && args[0] > limit) tooBig(name);
    };
    const P = new Proxy(C, {
      apply(t, self, args) {
        check(args);
        return apply(t, self, args);
      },
      construct(t, args, nt) {
        check(args);
        return construct(t, args, nt === P ? t : nt);
      },
    });
    defineProperty(G, name, { value: P, writable: true, configurable: true });
    // Instances lead back to their constructor: [].constructor must be
    // the guarded one too.
    if (C.prototype) defineProperty(C.prototype, "constructor", { value: P, writable: true, configurable: true });
  }
  sized("Array", maxArray);
  sized("ArrayBuffer", maxString);
  for (const t of ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"]) {
    if (G[t]) sized(t, maxArray);
  }

  // A frozen prototype property makes plain assignment of the same name
  // on an instance fail (the "override mistake"); an accessor that defines
  // an own property on the receiver keeps that idiom working.
  function tame(proto, key) {
    const d = getOwnPropertyDescriptor(proto, key);
    if (!d || !("value" in d)) return;
    const value = d.value;
    defineProperty(proto, key, {
      get() { return value; },
      set(v) {
        if (this === proto) throw new TypeError("Cannot assign to read only property '" + String(key) + "'");
        defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
      },
      enumerable: d.enumerable,
      configurable: false,
    });
  }
  for (const k of ["constructor", "toString", "valueOf", "toJSON"]) tame(Object.prototype, k);
  for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]) {
    for (const k of ["name", "message", "constructor", "toString"]) tame(E.prototype, k);
  }

  // Freeze every object reachable from the globals, and the intrinsics only
  // reachable through instances (iterator and generator prototypes).
  const seen = new WeakSet();
  function harden(o) {
    if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) return;
    seen.add(o);
    freeze(o);
    harden(getPrototypeOf(o));
    for (const k of ownKeys(o)) {
      const d = getOwnPropertyDescriptor(o, k);
      if ("value" in d) harden(d.value);
      else { harden(d.get); harden(d.set); }
    }
  }
  const gen = function* () {};
  [
    [][Symbol.iterator](), new Map().entries(), new Set().values(), ""[Symbol.iterator](),
    /x/[Symbol.matchAll]("x"), gen, gen(), async function () {},
    Promise.resolve(), new Uint8Array(0),
  ].forEach(harden);
  harden(G);
});
