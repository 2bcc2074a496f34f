"""Transitional alias: moved to fieldwork/access/roles.py (issue 12). Only fieldwork/households/
still imports this name; the lead deletes this file when applying
/work/briefs/access-households-todo.md after merging the households split."""

from fieldwork.access.roles import *  # noqa: F403
