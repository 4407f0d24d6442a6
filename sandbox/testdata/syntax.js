exports.onBeforeToken = (event, api) => {
  let x = ;
};
