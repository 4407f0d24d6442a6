// @ts-check
/// <reference path="../../idphooks.d.ts" />
// A module required by token.js: fetch, cache and secrets from a helper.

const config = require("./config.json");

/**
 * @typedef {{ tier: string, roles: string[], department: string }} Entry
 */

/**
 * Looks a user up in the CRM, with a cache in front of it.
 * @param {string} sub
 * @returns {Promise<Entry>}
 */
async function lookup(sub) {
  const key = "crm/" + sub;
  const cached = await cache.get(key);
  if (cached && typeof cached === "object" && !Array.isArray(cached)) {
    return {
      tier: String(cached.tier),
      roles: Array.isArray(cached.roles) ? cached.roles.map(String) : [],
      department: String(cached.department),
    };
  }
  const resp = await fetch(config.crmURL + "/users/" + encodeURIComponent(sub), {
    method: "GET",
    headers: { authorization: "Bearer " + secrets.CRM_TOKEN, accept: "application/json" },
    redirect: "error",
  });
  if (!resp.ok) {
    throw new Error(`CRM answered ${resp.status} ${resp.statusText} for ${resp.url}`);
  }
  if (resp.headers.get("content-type")?.startsWith("application/json") !== true) {
    throw new Error("CRM did not answer JSON");
  }
  /** @type {Entry} */
  const entry = await resp.json();
  await cache.set(key, { tier: entry.tier, roles: entry.roles, department: entry.department }, { ttl: config.ttl });
  return entry;
}

/** @param {string} sub */
async function forget(sub) {
  await cache.delete("crm/" + sub);
}

module.exports = { lookup, forget };
