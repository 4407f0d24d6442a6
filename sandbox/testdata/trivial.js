exports.onBeforeToken = (event, api) => {
  api.idToken.setClaim("tier", "gold");
};
