"""One declaration per JSON endpoint: `@operation(...)` (docs/api-contract.md).

An endpoint says once who may call it, which query and body models it reads, which
model its success answer has, which refusals its services may add and whether it is
exempt from Idempotency-Key. The decorator does the work those words promise, in this
order, before the view runs:

1. who: `auth` ("none", "optional": a bearer token may be sent and must then be valid,
   "user": signed in, "signed": a receiver for another system whose `authenticate`
   function checks a header credential -- a webhook signature, a Google channel token --
   before the body is read) and `roles` -> 401 / 403;
2. for POST/PUT/PATCH/DELETE: the Idempotency-Key header -> 400 IDEMPOTENCY_KEY_REQUIRED;
3. the body is read as JSON -> 400 BAD_REQUEST when it is not JSON (malformed, too
   deep, not UTF-8, another content type); the query string is validated -> 422;
4. the idempotency record is claimed (replay, 409 IDEMPOTENCY_KEY_REUSED);
5. the body model validates strictly (no "5" for 5) -> 422 VALIDATION_ERROR with
   `details.fields` (stored and replayed like any answer);
6. the view runs with `body=` and `query=` (and `caller=`, what `authenticate` answered, for
   "signed") and returns a dict (or None for 204), sent with the declared status.

app/api/openapi.py builds /api/openapi.json from these declarations alone, so the
document and the server cannot drift. Under test (`API_CONTRACT_CHECKS`, on when
TESTING) every answer is also checked against the declaration: a status the
document does not list, or a success body that does not match its model, raises
`ContractViolation`.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Response, current_app, jsonify, make_response, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from app.api import idempotency
from app.api.auth import api_user
from app.api.errors import from_pydantic
from app.errors import BookwellError
from app.ops.input_guard import JsonTooDeep, check_json_depth

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Auth = Literal["none", "optional", "user", "signed"]


class ContractViolation(AssertionError):
    """An answer the endpoint's declaration does not allow (raised only under test)."""


@dataclass(frozen=True)
class Operation:
    """What one endpoint promises; see the module docstring and docs/api-contract.md."""

    summary: str
    response: Any = None  # a pydantic model (or a union of models); None for an empty answer
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: Auth = "user"
    roles: tuple[str, ...] = ()
    errors: frozenset[int] = field(default_factory=frozenset)
    idempotent: bool = True  # mutating methods only; False only for the exemptions in docs/api.md
    # The key is taken in the use case's own write transaction (app/api/idempotency.py); only
    # for views whose work before their first write has no side effects (the hold).
    key_in_transaction: bool = False
    description: str | None = None
    authenticate: Callable[..., Any] | None = None  # auth "signed": checks the credential (path args in)
    credential: str | None = None  # auth "signed": the request header that carries the credential

    def statuses(self, method: str, has_path_args: bool) -> set[int]:
        """Every status this operation may answer (429 comes from the rate limiter, see openapi.py)."""
        found = {self.status, *self.errors}
        mutating = method.upper() in MUTATING
        if mutating or self.body is not None:
            found |= {400, 413}  # BAD_REQUEST: not JSON; PAYLOAD_TOO_LARGE
        if self.query is not None:
            found |= {422}
        if self.body is not None:
            found |= {422}
        if mutating and self.idempotent:
            found |= {400, 409}  # IDEMPOTENCY_KEY_REQUIRED, IDEMPOTENCY_KEY_REUSED
        if self.auth != "none":
            found.add(401)
        if self.roles:
            found.add(403)
        if has_path_args:
            found.add(404)
        return found

    @functools.cached_property
    def response_adapter(self) -> TypeAdapter | None:
        return TypeAdapter(self.response) if self.response is not None else None


def operation(summary: str, *, response: Any = None, status: int = 200, body: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, auth: Auth = "user", roles: Iterable[str] = (),
              errors: Iterable[int] = (), idempotent: bool = True, key_in_transaction: bool = False,
              description: str | None = None,
              authenticate: Callable[..., Any] | None = None, credential: str | None = None) -> Callable:
    """Declare a JSON endpoint (under the route decorator); see the module docstring."""
    if (auth == "signed") != (authenticate is not None and credential is not None) or (auth == "signed" and roles):
        raise TypeError('auth="signed" needs authenticate= and credential= (and no roles); other kinds take neither')
    declared = Operation(summary=summary, response=response, status=status, body=body, query=query, auth=auth,
                         roles=tuple(roles), errors=frozenset(errors), idempotent=idempotent,
                         key_in_transaction=key_in_transaction,
                         description=description, authenticate=authenticate, credential=credential)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            try:
                response = _handle(declared, view, args, kwargs)
            except BookwellError as error:
                _conform(declared, error.status, kwargs)
                raise
            _conform(declared, response.status_code, kwargs, response)
            return response

        wrapped.operation = declared
        return wrapped

    return decorate


def declaration(view: Callable) -> Operation | None:
    """The `Operation` of a view function, through any decorators wrapped around it."""
    while view is not None:
        found = getattr(view, "operation", None)
        if isinstance(found, Operation):
            return found
        view = getattr(view, "__wrapped__", None)
    return None


# --- the request, step by step -----------------------------------------------------------------

def _handle(op: Operation, view: Callable, args, kwargs) -> Response:
    if op.auth == "signed":  # the credential first: an unsigned request is 401 whatever its body
        kwargs["caller"] = op.authenticate(**kwargs)
    _authorize(op)
    mutating = request.method in MUTATING
    key = idempotency.require_key() if mutating and op.idempotent else None
    raw, payload = read_json() if mutating or op.body is not None else (b"{}", None)
    if op.query is not None:
        kwargs["query"] = parse_query(op.query)

    def run() -> Response:
        try:
            if op.body is not None:
                kwargs["body"] = op.body.model_validate_json(raw, strict=True)
            result = view(*args, **kwargs)
        except ValidationError as error:
            raise from_pydantic(error) from error
        if isinstance(result, Response):
            return result
        return make_response(jsonify(result) if result is not None else "", op.status)

    if key is None:
        return run()
    return idempotency.run_once(key, payload, run, in_transaction=op.key_in_transaction)


def _authorize(op: Operation) -> None:
    if op.auth in ("none", "signed"):  # "signed": no bearer token is looked at (see _handle)
        return
    user = api_user()  # a bearer header that is sent must be valid, even where it is optional
    if op.auth == "user" and user is None:
        raise BookwellError(401, "UNAUTHENTICATED", "Sign in first: POST /api/v1/auth/token.")
    if op.roles and user.role not in op.roles:
        raise BookwellError(403, "FORBIDDEN", "Your role may not do this.")


def read_json() -> tuple[bytes, Any]:
    """(raw bytes, parsed value) of the request body; an empty body is `{}`.

    Anything that is not JSON is 400 BAD_REQUEST: another content type, bytes that are
    not UTF-8, malformed text, NaN/Infinity, or nesting deeper than the input guard allows
    (a 2 KB body of a thousand brackets must never reach a recursive parser).
    """
    if request.content_length and not request.is_json:  # (a form body is already parsed away)
        raise bad_request("Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit and len(raw) >= limit:
        # chunked: nothing announced the size, and the stream stops at the limit without
        # raising; a body that reached the limit is taken for one that went past it
        raise RequestEntityTooLarge()
    if not raw.strip():
        return b"{}", {}
    if not request.is_json:
        raise bad_request("Send the body as JSON with Content-Type: application/json.")
    try:
        text = raw.decode("utf-8")
        check_json_depth(text)
        payload = json.loads(text, parse_constant=_no_constant)
        if "\\u" in text:  # an escape may stand for half a character (a lone surrogate)
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return raw, payload
    except JsonTooDeep as exc:
        raise bad_request(str(exc)) from exc
    except UnicodeEncodeError as exc:
        raise bad_request("The body is not valid JSON (its text must be valid Unicode).") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad_request("The body is not valid JSON.") from exc


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def bad_request(message: str) -> BookwellError:
    return BookwellError(400, "BAD_REQUEST", message)


def parse_query(model: type[BaseModel]) -> BaseModel:
    """The query string through its model: a value that is given must be valid (an empty
    `?location_id=` is a bad id, not an absent one) -> 422 naming the parameter."""
    values = {name: request.args.get(name) for name in request.args}
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise from_pydantic(error) from error


# --- checking answers against the declaration (under test) -------------------------------------

def _conform(op: Operation, status: int, path_args: dict, response: Response | None = None) -> None:
    if not current_app.config.get("API_CONTRACT_CHECKS", current_app.testing):
        return
    where = f"{request.method} {request.url_rule.rule if request.url_rule else request.path}"
    allowed = op.statuses(request.method, bool(request.view_args))
    if status not in allowed and status < 500:
        raise ContractViolation(f"{where} answered {status}, which its @operation does not declare "
                                f"(declared: {sorted(allowed)}).")
    if response is not None and status == op.status and op.response_adapter is not None \
            and response.headers.get(idempotency.REPLAYED) != "true":
        try:
            op.response_adapter.validate_json(response.get_data(), strict=True)
        except ValidationError as error:
            raise ContractViolation(f"{where}: the answer does not match {op.response}: {error}") from error
