"""amqtt topic plugin: who may publish, subscribe to and receive which topics (issue 9, finding 3).

Roles come from the authenticated client id (the auth plugin binds the credential to it):
``ecom-tool-*`` is a command-line tool, anything else an app process. The rules are small on purpose:

- every topic and filter lives under ``ecom/``: nobody subscribes to ``#``, ``+/...`` or ``$SYS/#``;
- app processes publish and subscribe anything under ``ecom/``;
- tools may not touch ``ecom/payments/...`` at all (nor a wildcard that could match it): a credential
  handed to a script must not be able to move money. (Tools normally do not connect at all: they write
  outbox rows and the running shop's relays publish them.)

Events are signed by their producing plugin as well, so the ACL is a second wall, not the only one.
"""
from __future__ import annotations

from dataclasses import dataclass

from amqtt.contexts import Action
from amqtt.plugins.base import BaseTopicPlugin
from amqtt.session import Session

from .names import TOOL_PREFIX

ROOT = "ecom"
MONEY = ("payments",)


def role(client_id: str) -> str:
    return "tool" if client_id.startswith(TOOL_PREFIX) else "app"


def allowed(client_id: str, topic: str, action: str) -> bool:
    """May ``client_id`` do ``action`` (publish, subscribe, receive) on ``topic`` (a filter for subscribe)?"""
    levels = topic.split("/")
    if action == Action.SUBSCRIBE and levels[0] == "$share" and len(levels) > 2:
        levels = levels[2:]  # $share/<group>/<filter>: judge the filter (external brokers; amqtt ignores it)
    if len(levels) < 2 or levels[0] != ROOT or any(not level for level in levels):
        return False
    if role(client_id) == "tool" and (levels[1] in MONEY or levels[1] in ("+", "#")):
        return False
    return True


class TopicAclPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        enabled: bool = True

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        if session is None or not session.client_id or not topic or action is None:
            return False
        return allowed(session.client_id, topic, action)
