"""Who may see and do what: the access layer.

Below every feature and above the data models. `scope` holds the one scope rule and the
`get_*_or_404` loaders, `roles` the roles, `decorators` the per-role view guard and
`validity` the one definition of a valid visit. Features import from here; this package
imports only the core modules and the models.
"""
