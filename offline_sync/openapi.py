"""OpenAPI 3.0 description of the sync API, published at /api/openapi.json.

It says exactly what the server checks: a request the schema allows is never refused as
malformed (400), a request it forbids is never accepted, and every status an operation can
answer is listed with its body. Whatever the schema cannot express (a valid ID number, a
household in the user's scope, a photo that was declared) is answered 404/409/422 with the
error body. Inside a push, each record is answered on its own (`results`), so `records` items
are any JSON value: Visit and Discovery below describe what is accepted, and anything else
comes back `rejected` with field errors, never as a failure of the request.
tests/offline_sync/test_openapi_conformance.py runs schemathesis against the app to hold
the two together.
"""

from __future__ import annotations

from typing import Any

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
# No text the server takes may hold a NUL: no database column can store it (400 bad_text).
NO_NUL = "^[^\\x00]*$"
# A row id as sent by a phone: a string of digits or an integer.
ROW_ID: dict[str, Any] = {"anyOf": [
    {"type": "string", "pattern": NO_NUL},
    {"type": "integer"}], "description": "a row id (digits, as a string or a number); one "
                                          "that does not name a visible place is 422"}
# A coordinate is a number; numeric text is read too (the page sends it so).
NUMBER: dict[str, Any] = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NO_NUL}]}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{schema}"}}}}


# Answers every operation can give.
COMMON = {
    "400": _error("Malformed request (see error.fields), or text no column can store "
                  "(code bad_text: NUL, unpaired surrogates), or a missing/forged CSRF token "
                  "(code csrf)"),
    "401": _error("No valid session: log in again (never a redirect)"),
    "403": _error("Not allowed now (code password_change_required: change the initial "
                  "password first; forbidden: not for this role)"),
    "500": _error("Server fault; nothing was stored; retry later"),
}
TOO_LARGE = {"413": _error("The request body is over the size limit")}


def _location() -> dict[str, Any]:
    return {"type": "object", "nullable": True, "required": ["lat", "lon"], "properties": {
        "lat": {**NUMBER, "description": "WGS-84 latitude, -90..90"},
        "lon": {**NUMBER, "description": "WGS-84 longitude, -180..180"},
        "accuracy_m": {**NUMBER, "nullable": True, "description": "0..100000"},
        "captured_at": {**TIME, "nullable": True},
        "source": {"type": "string", "enum": ["gps", "network", "manual"], "nullable": True},
    }}


def _photo_decl() -> dict[str, Any]:
    return {"type": "object", "required": ["id", "sha256"], "properties": {
        "id": UUID, "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        "bytes": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "taken_at": TIME,
        "caption": {"type": "string", "maxLength": 200}}}


def spec() -> dict[str, Any]:
    device_query = {"name": "device_id", "in": "query", "required": False,
                    "schema": {"type": "string", "maxLength": 64, "pattern": NO_NUL}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "fieldwork sync API", "version": "1",
                 "description": "The phone↔server contract of SYNC-PROTOCOL.md. Authenticate "
                                "with the session cookie of /login; send X-CSRFToken on POST "
                                "and PUT. Every error is JSON: {error: {code, message, "
                                "fields}}. No string or key anywhere in a request may "
                                "contain NUL (U+0000) or an unpaired surrogate: 400 "
                                "bad_text, except inside a pushed record, which is then "
                                "rejected on its own."},
        "paths": {
            "/api/sync/v1/session": {"get": {
                "summary": "The logged-in user and a CSRF token",
                "responses": {"200": _ok("Session"), **COMMON}}},
            "/api/sync/v1/pull": {"get": {
                "summary": "Households in scope, the forms and settings",
                "parameters": [
                    {"name": "since", "in": "query", "required": False,
                     "description": "the cursor of the last pull; an unknown, expired or "
                                    "malformed one answers with a full pull, not an error",
                     "schema": {"type": "string", "pattern": NO_NUL}},
                    device_query],
                "responses": {"200": _ok("Pull"), **COMMON}}},
            "/api/sync/v1/push": {"post": {
                "summary": "Records from the outbox (at most 100)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Push"}}}},
                "responses": {"200": _ok("PushResult", "Per-record results"), **COMMON,
                              **TOO_LARGE}}},
            "/api/sync/v1/photos/{photo_id}": {"put": {
                "summary": "The bytes of a declared photo",
                "parameters": [
                    {"name": "photo_id", "in": "path", "required": True, "schema": UUID,
                     "description": "not a UUID, or not declared by an accepted record of "
                                    "this user: 404"},
                    {"name": "X-Content-SHA256", "in": "header", "required": True,
                     "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}],
                "requestBody": {"required": True, "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in ("image/jpeg", "image/png", "image/webp", "image/heic",
                              "image/heif")}},
                "responses": {
                    "200": _ok("PhotoStored", "Already stored with this hash (safe repeat)"),
                    "201": _ok("PhotoStored", "Stored"),
                    **COMMON, **TOO_LARGE,
                    "400": _error("Not an image, the hash does not match the bytes or the "
                                  "declaration, a missing or malformed X-Content-SHA256, or "
                                  "a CSRF failure"),
                    "404": _error("No accepted record of this user declares this photo"),
                    "409": _error("Stored earlier with a different hash")}}},
            "/api/sync/v1/status": {"get": {
                "summary": "Photos the server still waits for",
                "parameters": [device_query],
                "responses": {"200": _ok("Status"), **COMMON}}},
            "/api/sync/v1/discovery/check": {"post": {
                "summary": "Likely duplicates of a household about to be reported",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/DiscoveryCheck"}}}},
                "responses": {"200": _ok("Candidates"), **COMMON, **TOO_LARGE,
                              "422": _error("An invalid ID number, location or community "
                                            "(see error.fields)"),
                              "429": _error("Too many checks; try again later")}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "fields": {"type": "object",
                               "additionalProperties": {"type": "string"}}}}}},
            "Session": {"type": "object", "required": ["user", "csrf_token"], "properties": {
                "user": {"type": "object", "required": ["id", "username", "role"],
                         "properties": {"id": {"type": "string"},
                                        "username": {"type": "string"},
                                        "role": {"type": "string"},
                                        "must_change_password": {"type": "boolean"}}},
                "csrf_token": {"type": "string"}}},
            "Pull": {"type": "object",
                     "required": ["cursor", "server_time", "full", "households", "removed",
                                  "forms", "settings"],
                     "properties": {
                         "cursor": {"type": "string"}, "server_time": TIME,
                         "full": {"type": "boolean"},
                         "households": {"type": "array", "items": {
                             "type": "object", "required": ["id", "version", "head_name"],
                             "properties": {"id": {"type": "string"},
                                            "version": {"type": "integer"},
                                            "head_name": {"type": "string"},
                                            "last_visit_at": {**TIME, "nullable": True},
                                            "due_this_month": {"type": "boolean"}}}},
                         "removed": {"type": "array", "items": {"type": "string"}},
                         "forms": {"type": "object"}, "settings": {"type": "object"},
                         "regions": {"type": "array", "items": {"type": "object"}}}},
            "Visit": {"type": "object",
                      "description": "A visit record as accepted; any other record is "
                                     "answered `rejected` in its result",
                      "required": ["type", "id", "household_id", "visited_at", "answers"],
                      "properties": {
                          "type": {"type": "string", "enum": ["visit"]}, "id": UUID,
                          "household_id": {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"},
                          "visited_at": TIME, "location": _location(),
                          "answers": {"type": "object",
                                      "description": "forms.visit; optionally member_changes "
                                                     "(forms.visit.member_changes)"},
                          "notes": {"type": "string", "maxLength": 2000},
                          "photos": {"type": "array", "maxItems": 20, "items": _photo_decl()},
                          "supersedes": {**UUID, "nullable": True}}},
            "Discovery": {"type": "object",
                          "description": "A discovery report as accepted; any other record "
                                         "is answered `rejected` in its result",
                          "required": ["type", "id", "region_id", "address", "reason",
                                       "answers"],
                          "properties": {
                              "type": {"type": "string", "enum": ["discovery"]}, "id": UUID,
                              "region_id": {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"},
                              "address": {"type": "string", "maxLength": 200},
                              "location": _location(),
                              "reason": {"type": "string", "maxLength": 2000},
                              "answers": {"type": "object", "description": "forms.discovery"},
                              "reported_at": TIME,
                              "photos": {"type": "array", "maxItems": 20,
                                         "items": _photo_decl()}}},
            "Push": {"type": "object", "required": ["device_id", "records"], "properties": {
                "device_id": {"type": "string", "minLength": 1, "maxLength": 64,
                              "pattern": NO_NUL},
                "sent_at": {**TIME, "description": "the phone's clock (clock_skew flag); a "
                                                   "time no clock can mean (year 9999) is "
                                                   "ignored"},
                "records": {"type": "array", "maxItems": 100, "items": {
                    "description": "A Visit or a Discovery record. Each record is answered "
                                   "on its own: one that is not valid comes back `rejected` "
                                   "with field errors, and the others are stored.",
                    "anyOf": [{"$ref": "#/components/schemas/Visit"},
                              {"$ref": "#/components/schemas/Discovery"},
                              {}]}}}},
            "PushResult": {"type": "object", "required": ["results", "server_time"],
                           "properties": {"server_time": TIME, "results": {
                               "type": "array", "items": {"type": "object", "required": [
                                   "id", "status"], "properties": {
                                   "id": {"type": "string"},
                                   "status": {"type": "string",
                                              "enum": ["created", "duplicate", "rejected"]},
                                   "errors": {"type": "object", "additionalProperties": {
                                       "type": "string"}},
                                   "missing_photos": {"type": "array",
                                                      "items": {"type": "string"}},
                                   "flags": {"type": "array",
                                             "items": {"type": "string"}}}}}}},
            "PhotoStored": {"type": "object", "required": ["id", "status", "record_complete"],
                            "properties": {"id": UUID,
                                           "status": {"type": "string",
                                                      "enum": ["stored", "already_stored"]},
                                           "record_complete": {"type": "boolean"}}},
            "Status": {"type": "object",
                       "required": ["missing_photos", "last_push_at", "server_time"],
                       "properties": {"missing_photos": {"type": "array",
                                                         "items": {"type": "string"}},
                                      "last_push_at": {**TIME, "nullable": True},
                                      "server_time": TIME}},
            "DiscoveryCheck": {
                "type": "object",
                "description": "Text fields take any JSON value (read as text; only the "
                               "first 64 / 200 characters are used); no field is required.",
                "properties": {
                    "head_name": {"pattern": NO_NUL, "nullable": True},
                    "address": {"pattern": NO_NUL, "nullable": True},
                    "id_number": {"pattern": NO_NUL, "nullable": True,
                                  "description": "a valid 18-character number, else 422"},
                    "region_id": {**ROW_ID, "nullable": True},
                    "location": {**_location(), "description": "else 422"}}},
            "Candidates": {"type": "object", "required": ["candidates"], "properties": {
                "candidates": {"type": "array", "items": {"type": "object"}}}},
        }},
    }
