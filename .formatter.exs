[
  inputs: [
    "{mix,.formatter}.exs",
    "{config,lib}/**/*.{ex,exs}",
    "test/*.exs",
    "test/{structure_loader,support}/**/*.{ex,exs}"
  ],
  subdirectories: ["test/example_app"]
]
