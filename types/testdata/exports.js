// @ts-check
/// <reference path="../idphooks.d.ts" />
// One handler at a time: the annotation checks the handler, the last line
// the names. onAfterLogn must fail it (expected below); token.js passes it.

/** @type {IdpHooks.Handlers["onAfterLogin"]} */
exports.onAfterLogin = async (event) => {
  console.info(event.type, event.user.email ?? "no email");
};

/** @param {IdpHooks.NotifyEvent<"after_logout">} event */
exports.onAfterLogn = async (event) => {
  console.info(event.type);
};

// @ts-expect-error onAfterLogn is not a handler
/** @satisfies {IdpHooks.OnlyHandlers<typeof exports>} */ (exports);

// @ts-expect-error a misspelled name in the annotation
/** @type {IdpHooks.Handlers["onAfterLogot"]} */
const h = async () => {};
