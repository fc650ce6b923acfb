"""Drives every livechat method of the public `rocketchat-api` client, unchanged, against
rtbox. Usage: rocketchat_livechat.py URL ADMIN_EMAIL PASSWORD AGENT_EMAIL MANAGER_EMAIL.
Exits non-zero (with the failing assertion) when anything differs from Rocket.Chat."""

import sys

from rocketchat_API.APIExceptions.RocketExceptions import RocketApiException
from rocketchat_API.rocketchat import RocketChat

url, admin_email, password, agent_email, manager_email = sys.argv[1:6]

rc = RocketChat(admin_email, password, server_url=url)
assert "X-Auth-Token" in rc.headers, "login set the auth headers"

# Agents and managers.
agent = rc.livechat_create_user("agent", username=agent_email)
assert agent["success"] is True, agent
agent_id = agent["user"]["_id"]
assert agent["user"]["username"] == agent_email, agent
got = rc.livechat_get_user("agent", agent_id)
assert got["user"]["_id"] == agent_id, got
# The admin takes chats itself below, so it becomes an agent too.
me = rc.livechat_create_user("agent", username=admin_email)["user"]
agents = list(rc.livechat_get_users("agent"))
assert {agent_id, me["_id"]} <= {a["_id"] for a in agents}, agents
manager = rc.livechat_create_user("manager", username=manager_email)
manager_id = manager["user"]["_id"]
assert manager_id in [m["_id"] for m in rc.livechat_get_users("manager")]
try:
    rc.livechat_create_user("agent", username="nobody@example.com")
    raise AssertionError("unknown users are refused")
except RocketApiException as e:
    assert e.status_code == 400 and "error-invalid-user" in str(e), e

# Appearance: a raw list of {_id, value}.
assert rc.livechat_set_appearance([{"_id": "Livechat_title", "value": "Py Support"}])["success"]
appearance = {a["_id"]: a["value"] for a in rc.livechat_get_appearance()["appearance"]}
assert appearance["Livechat_title"] == "Py Support", appearance

# A visitor writes; more messages than one page, to walk the paging.
token = "py-visitor-token-1"
visitor = rc.livechat_register_visitor(token, visitor={"name": "Py Visitor", "email": "py@example.com"})
assert visitor["visitor"]["token"] == token, visitor
assert visitor["visitor"]["visitorEmails"][0]["address"] == "py@example.com", visitor
assert rc.livechat_get_visitor(token)["visitor"]["_id"] == visitor["visitor"]["_id"]
room = rc.livechat_room(token)
rid = room["room"]["_id"]
assert room["newRoom"] is True and room["room"]["open"] is True, room
for i in range(55):
    sent = rc.livechat_message(token, rid, "message %d" % i)
    assert sent["message"]["msg"] == "message %d" % i, sent
history = list(rc.livechat_messages_history(rid, token))
texts = [m["msg"] for m in history if m.get("t") is None]
assert len(texts) == 55 and len(set(m["_id"] for m in history)) == len(history), len(texts)
assert texts[0] == "message 54", texts[:3]

rooms = list(rc.livechat_rooms())
assert rid in [r["_id"] for r in rooms], rooms

# Nobody is online: the chat is in the queue; the admin takes it.
inquiries = list(rc.livechat_inquiries_list())
mine = [i for i in inquiries if i["rid"] == rid]
assert len(mine) == 1 and mine[0]["status"] == "queued", inquiries
one = rc.livechat_inquiries_get_one(rid)
assert one["inquiry"]["_id"] == mine[0]["_id"], one
taken = rc.livechat_inquiries_take(mine[0]["_id"])
assert taken["inquiry"]["status"] == "taken", taken
assert rid not in [i["rid"] for i in rc.livechat_inquiries_list()]

try:
    rc.livechat_get_visitor("never-registered-token")
    raise AssertionError("unknown tokens are refused")
except RocketApiException as e:
    assert e.status_code == 400 and e.error == "invalid-token", e

assert rc.livechat_delete_user("manager", manager_id)["success"] is True
assert rc.livechat_get_user("manager", manager_id)["user"] is None
print("rocketchat-api livechat: all methods ok")
