// Loaded after require.js and before embed-amd.js on pages with widgets.
// The widget manager finds its icon fonts next to the AMD module it defines;
// map that module to this folder (_static) so the fonts are served by the site.
(function () {
  var here = document.currentScript.src.replace(/\/[^/]*$/, "");
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": here } });
})();
