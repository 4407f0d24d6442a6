exports.onBeforeToken = async (event, api) => {
  const tier = await Promise.resolve(event.user.sub === "u1" ? "gold" : "basic");
  api.idToken.setClaim("tier", tier);
  api.accessToken.setClaim("n", 42);
  console.log("set tier", tier);
  if (event.user.blocked) api.deny("blocked");
};
exports.onBeforeUserinfo = (event, api) => { api.userinfo.setClaim("x", [1, "a", {b: true}]); };
