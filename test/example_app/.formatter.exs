# Ecto's migration DSL without parentheses, as `import_deps: [:ecto_sql]` would allow; listed
# here so that formatting needs no dependencies fetched.
[
  inputs: [
    "{mix,.formatter}.exs",
    "{config,lib,test}/**/*.{ex,exs}",
    "priv/*/migrations/*.exs"
  ],
  locals_without_parens: [add: 2, add: 3, create: 1, create: 2, execute: 1, execute: 2, alter: 2]
]
