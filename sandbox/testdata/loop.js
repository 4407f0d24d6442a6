exports.onBeforeToken = (event, api) => { for (;;) {} };
