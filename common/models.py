from django.db import models


class TimeStamped(models.Model):
    """Our clock: when the row was created and last changed here (never the venue's time)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def money_field(**kwargs) -> models.DecimalField:
    """numeric(38, 18): exact for every asset we trade, never a float."""
    return models.DecimalField(max_digits=38, decimal_places=18, **kwargs)
