// filebridge: JupyterLab's notebook editor offered for Databricks source notebooks.
//
// The server side (filebridge.notebooks.jupyter.DatabricksContentsManager) converts these files
// when they are requested as notebooks; this plugin only makes "Open With > Notebook" list the
// notebook editor for their file types. It needs no imports, so it is written as a plain
// federated-module container instead of a webpack build.
(function () {
  "use strict";

  var EXTENSIONS = [".py", ".sql", ".scala", ".r", ".R"];

  function fileTypeNames(registry, extension) {
    var found = registry.getFileTypesForPath("notebook" + extension);
    if (found.length > 0) {
      return found.map(function (fileType) { return fileType.name.toLowerCase(); });
    }
    var name = "databricks" + extension.toLowerCase().replace(".", "-");
    registry.addFileType({
      name: name,
      displayName: "Databricks notebook source",
      extensions: [extension],
      mimeTypes: ["text/plain"],
      contentType: "file",
      fileFormat: "text"
    });
    return [name];
  }

  var plugin = {
    id: "filebridge-databricks:open-with-notebook",
    description: "Lists the notebook editor under Open With for Databricks source notebooks.",
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
