// filebridge: JupyterLab's notebook editor offered for Databricks source notebooks.
//
// The server side (filebridge.notebooks.jupyter.DatabricksContentsManager) converts these files
// when they are requested as notebooks; this plugin only lets the notebook editor view their
// file types: it is listed under "Open With", and the defaultViewers setting may name it for a
// double-click (JupyterLab refuses a default viewer that cannot view the file type). It needs no
// imports, so it is written as a plain federated-module container instead of a webpack build.
(function () {
  "use strict";

  var EXTENSIONS = [".py", ".sql", ".scala", ".r", ".R"];
  // JupyterLab has no file types for these two; the names are the ones the defaultViewers
  // setting written by "filebridge notebook jupyterlab --install" refers to.
  var OWN_TYPES = { ".sql": "databricks-sql", ".scala": "databricks-scala" };

  function fileTypeNames(registry, extension) {
    var names = registry.getFileTypesForPath("notebook" + extension).map(function (fileType) {
      return fileType.name.toLowerCase();
    });
    var own = OWN_TYPES[extension] || (names.length === 0 ?
      "databricks-" + extension.toLowerCase().replace(".", "") : null);
    if (own && names.indexOf(own) < 0) {
      registry.addFileType({
        name: own,
        displayName: "Databricks notebook source",
        extensions: [extension],
        mimeTypes: ["text/plain"],
        contentType: "file",
        fileFormat: "text"
      });
      names.push(own);
    }
    return names;
  }

  var plugin = {
    id: "filebridge-databricks:open-with-notebook",
    description: "Lets the notebook editor view Databricks source notebooks (Open With, " +
      "double-click by the defaultViewers setting).",
    autoStart: true,
    activate: function (app) {
      var registry = app.docRegistry;
      var done = false;
      // The notebook editor is registered by another plugin, maybe after this one.
      function offer() {
        var byFileType = registry._widgetFactoriesForFileType;
        if (done || !byFileType || !registry.getWidgetFactory("notebook")) {
          return;
        }
        done = true;
        EXTENSIONS.forEach(function (extension) {
          fileTypeNames(registry, extension).forEach(function (name) {
            var factories = byFileType[name] || (byFileType[name] = []);
            if (factories.indexOf("notebook") < 0) {
              factories.push("notebook");
            }
          });
        });
      }
      registry.changed.connect(offer);
      app.restored.then(function () {
        offer();
        if (!done) {
          console.warn("filebridge-databricks: no notebook editor to offer");
        }
      });
      offer();
    }
  };

  var container = {
    init: function () { return Promise.resolve(); },
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error("filebridge-databricks has no module " + module));
      }
      return Promise.resolve(function () { return { __esModule: true, "default": [plugin] }; });
    }
  };
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB["filebridge-databricks"] = container;
})();
