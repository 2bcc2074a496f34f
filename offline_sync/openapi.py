"""OpenAPI 3.0 description of the sync API, published at /api/openapi.json."""

from __future__ import annotations

from typing import Any

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
ID = {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"}  # a row id below 2**31


def _error() -> dict[str, Any]:
    return {"description": "Error", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}


def _location() -> dict[str, Any]:
    return {"type": "object", "nullable": True, "required": ["lat", "lon"], "properties": {
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "accuracy_m": {"type": "number", "minimum": 0},
        "captured_at": TIME,
        "source": {"type": "string", "enum": ["gps", "network", "manual"]},
    }}


def _photo_decl() -> dict[str, Any]:
    return {"type": "object", "required": ["id", "sha256"], "properties": {
        "id": UUID, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "bytes": {"type": "integer", "minimum": 0}, "taken_at": TIME,
        "caption": {"type": "string", "maxLength": 200}}}


def spec() -> dict[str, Any]:
    errors = {"400": _error(), "401": _error(), "413": _error()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "fieldwork sync API", "version": "1",
                 "description": "The phone↔server contract of SYNC-PROTOCOL.md. Authenticate "
                                "with the session cookie of /login; send X-CSRFToken on POST "
                                "and PUT."},
        "paths": {
            "/api/sync/v1/session": {"get": {
                "summary": "The logged-in user and a CSRF token",
                "responses": {"200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Session"}}}}, "401": _error()}}},
            "/api/sync/v1/pull": {"get": {
                "summary": "Households in scope, the visit form and settings",
                "parameters": [
                    {"name": "since", "in": "query", "required": False,
                     "schema": {"type": "string", "maxLength": 100}},
                    {"name": "device_id", "in": "query", "required": False,
                     "schema": {"type": "string", "maxLength": 64}}],
                "responses": {"200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Pull"}}}}, "401": _error()}}},
            "/api/sync/v1/push": {"post": {
                "summary": "Records from the outbox (at most 100)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Push"}}}},
                "responses": {"200": {"description": "Per-record results", "content": {
                    "application/json": {"schema": {
                        "$ref": "#/components/schemas/PushResult"}}}}, **errors}}},
            "/api/sync/v1/photos/{photo_id}": {"put": {
                "summary": "The bytes of a declared photo",
                "parameters": [
                    {"name": "photo_id", "in": "path", "required": True, "schema": UUID},
                    {"name": "X-Content-SHA256", "in": "header", "required": True,
                     "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
                "requestBody": {"required": True, "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in ("image/jpeg", "image/png", "image/webp", "image/heic")}},
                "responses": {"200": {"description": "Already stored with this hash"},
                              "201": {"description": "Stored"}, "404": _error(),
                              "409": _error(), **errors}}},
            "/api/sync/v1/status": {"get": {
                "summary": "Photos the server still waits for",
                "parameters": [{"name": "device_id", "in": "query", "required": False,
                                "schema": {"type": "string", "maxLength": 64}}],
                "responses": {"200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Status"}}}}, "401": _error()}}},
            "/api/sync/v1/discovery/check": {"post": {
                "summary": "Likely duplicates of a household about to be reported",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "head_name": {"type": "string", "maxLength": 64},
                        "address": {"type": "string", "maxLength": 200},
                        "id_number": {"type": "string", "maxLength": 18},
                        "region_id": ID, "location": _location()}}}}},
                "responses": {"200": {"description": "Candidates"}, "422": _error(),
                              **errors}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "fields": {"type": "object",
                               "additionalProperties": {"type": "string"}}}}}},
            "Session": {"type": "object", "required": ["user", "csrf_token"], "properties": {
                "user": {"type": "object"}, "csrf_token": {"type": "string"}}},
            "Pull": {"type": "object",
                     "required": ["cursor", "server_time", "full", "households", "removed",
                                  "forms", "settings"],
                     "properties": {
                         "cursor": {"type": "string"}, "server_time": TIME,
                         "full": {"type": "boolean"},
                         "households": {"type": "array", "items": {"type": "object"}},
                         "removed": {"type": "array", "items": {"type": "string"}},
                         "forms": {"type": "object"}, "settings": {"type": "object"}}},
            "Visit": {"type": "object",
                      "required": ["type", "id", "household_id", "visited_at", "answers"],
                      "properties": {
                          "type": {"type": "string", "enum": ["visit"]}, "id": UUID,
                          "household_id": ID, "visited_at": TIME, "location": _location(),
                          "answers": {"type": "object"},
                          "notes": {"type": "string", "maxLength": 2000},
                          "photos": {"type": "array", "maxItems": 20, "items": _photo_decl()},
                          "supersedes": {**UUID, "nullable": True}}},
            "Discovery": {"type": "object",
                          "required": ["type", "id", "region_id", "address", "reason",
                                       "answers"],
                          "properties": {
                              "type": {"type": "string", "enum": ["discovery"]}, "id": UUID,
                              "region_id": ID, "address": {"type": "string", "maxLength": 200},
                              "location": _location(),
                              "reason": {"type": "string", "maxLength": 2000},
                              "answers": {"type": "object"}, "reported_at": TIME,
                              "photos": {"type": "array", "maxItems": 20,
                                         "items": _photo_decl()}}},
            "Push": {"type": "object", "required": ["device_id", "records"], "properties": {
                "device_id": {"type": "string", "minLength": 1, "maxLength": 64},
                "sent_at": TIME,
                "records": {"type": "array", "maxItems": 100, "items": {"oneOf": [
                    {"$ref": "#/components/schemas/Visit"},
                    {"$ref": "#/components/schemas/Discovery"}]}}}},
            "PushResult": {"type": "object", "required": ["results", "server_time"],
                           "properties": {"server_time": TIME, "results": {
                               "type": "array", "items": {"type": "object", "required": [
                                   "id", "status"], "properties": {
                                   "id": {"type": "string"},
                                   "status": {"type": "string",
                                              "enum": ["created", "duplicate", "rejected"]},
                                   "errors": {"type": "object"},
                                   "missing_photos": {"type": "array",
                                                      "items": {"type": "string"}},
                                   "flags": {"type": "array",
                                             "items": {"type": "string"}}}}}}},
            "Status": {"type": "object",
                       "required": ["missing_photos", "last_push_at", "server_time"],
                       "properties": {"missing_photos": {"type": "array",
                                                         "items": {"type": "string"}},
                                      "last_push_at": {**TIME, "nullable": True},
                                      "server_time": TIME}},
        }},
    }
