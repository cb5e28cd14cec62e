"""Model fields stored encrypted (xiaozhi_hub.crypto), the digest column that lets
a row be found by an encrypted value, and the re-encryption of a model's rows.

An encrypted field holds a Fernet token in a TEXT column and reads back as the
plain value. Tokens differ on every save, so the database cannot compare them:
filtering on an encrypted field is an error (only `isnull` is allowed) rather
than a query that silently matches nothing; a LookupDigestField is the way to
find a row by its secret.
"""

from __future__ import annotations

import json

from django.core.exceptions import FieldError
from django.db import models, transaction
from django.db.models import ExpressionWrapper, F, Value

from . import crypto


class EncryptedMixin:
    """Encrypts on the way to the database, decrypts on the way back."""

    def to_plaintext(self, value) -> str:
        return str(value)

    def from_plaintext(self, text: str):
        return text

    def get_internal_type(self) -> str:
        return "TextField"  # the column holds a token, whatever the value's type

    def get_db_prep_save(self, value, connection):
        if value is None or hasattr(value, "resolve_expression"):
            return value  # an expression (a raw token written by a rotation) goes as it is
        return crypto.encrypt(self.to_plaintext(value))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return self.from_plaintext(crypto.decrypt(value))

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.model.__name__}.{self.name} is stored encrypted and cannot be "
                f"filtered on ({lookup_name}); look rows up by a digest column"
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        return None  # no JSON key or text transforms on a token


class EncryptedTextField(EncryptedMixin, models.TextField):
    pass


class EncryptedJSONField(EncryptedMixin, models.JSONField):
    """A JSONField (same forms, serializers and validation) kept as an encrypted JSON text."""

    def to_plaintext(self, value) -> str:
        return json.dumps(value, cls=self.encoder)

    def from_plaintext(self, text: str):
        return json.loads(text, cls=self.decoder)


class LookupDigestField(models.CharField):
    """HMAC-SHA256 of another field's value (crypto.lookup_digest), set on every save.

    Find rows with `filter(<name>__in=crypto.lookup_digests(value))`. A save with
    update_fields must name this field together with its source.
    """

    def __init__(self, *args, source: str, **kwargs) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def digest_of(self, value) -> str:
        return crypto.lookup_digest(value) if value else ""

    def pre_save(self, model_instance, add):
        digest = self.digest_of(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, digest)
        return digest


def encrypted_fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedMixin)]


def _rotated(row: dict, fields, digests, by_name, ring: crypto.Keyring) -> dict:
    """The columns of one row that change: tokens under an older key, stale digests."""
    update = {}
    for f in fields:
        token = row[f"raw_{f.attname}"]
        if token is not None and not ring.is_current(token):
            update[f.attname] = Value(ring.rotate(token), output_field=models.TextField())
    for f in digests:
        token = row[f"raw_{by_name[f.source].attname}"]
        plain = by_name[f.source].from_plaintext(ring.decrypt(token)) if token else ""
        if row[f.attname] != f.digest_of(plain):
            update[f.attname] = f.digest_of(plain)
    return update


def rotate_rows(model, *, using: str = "default", chunk_size: int = 500) -> int:
    """Re-encrypt with the newest key every value of `model`'s encrypted fields that is
    under an older one, and recompute its digest columns; returns how many rows changed.

    Works on the stored tokens (no save(): no auto_now bump, no signals), so running
    it again changes nothing. A token no key opens raises crypto.DecryptionError.
    """
    fields = encrypted_fields(model)
    by_name = {f.name: f for f in fields}
    digests = [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, LookupDigestField) and f.source in by_name
    ]
    raw = {
        f"raw_{f.attname}": ExpressionWrapper(F(f.attname), output_field=models.TextField())
        for f in fields
    }
    ring = crypto.keyring()
    changed = 0
    with transaction.atomic(using=using):
        rows = model._base_manager.using(using).annotate(**raw)
        rows = rows.values("pk", *raw, *(f.attname for f in digests)).order_by("pk")
        for row in rows.iterator(chunk_size=chunk_size):
            try:
                update = _rotated(row, fields, digests, by_name, ring)
            except crypto.DecryptionError as exc:
                raise crypto.DecryptionError(f"{model._meta.label} #{row['pk']}: {exc}") from None
            if update:
                model._base_manager.using(using).filter(pk=row["pk"]).update(**update)
                changed += 1
    return changed
