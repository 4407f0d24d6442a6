// @ts-check
/// <reference path="../idphooks.d.ts" />
// demo/claims.js annotates nothing, so here: it must export only handlers
// that exist, with handler-shaped functions.

/** @type {Partial<IdpHooks.Handlers>} */
const demo = require("../../demo/claims.js");

/** @typedef {Exclude<keyof typeof import("../../demo/claims.js"), keyof IdpHooks.Handlers>} NotAHandler */
/** @type {[NotAHandler] extends [never] ? true : NotAHandler} */
const onlyHandlers = true;

module.exports = { demo, onlyHandlers };
