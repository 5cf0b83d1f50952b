from django import template

from dbsessions import useragents

register = template.Library()


@register.filter
def device(user_agent: str | None) -> str:
    """The user agent as "Browser on system", for listing a user's sessions."""
    return useragents.describe(user_agent)
