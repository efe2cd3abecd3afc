"""One module per outside system (solve-field, the catalog database, OpenNGC, the thumbnail
store). Plain constructor arguments; never imports dagster."""
