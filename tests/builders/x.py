"""Realistic X (Twitter) data archives.

    ana = XUser("732980797985148928", "ana_pots", "Ana")
    build_x_archive(
        path,
        tweets=[reply("1626922779105759235", to=ana, text="@ana_pots love it")],
        dms=[dm("692158825256845315", sender=ana, recipient=ME)],
        likes=3, followers=[ana], following=[ana], multipart=2,
    )

Files are written the way X writes them: ``window.YTD.<type>.partN = [...]``
with X's `` : `` separators and 2-space indent, every number as a string,
tweets wrapped in ``{"tweet": ...}``, a ``manifest.js`` listing every part.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

UTC = dt.timezone.utc
BASE_TIME = dt.datetime(2023, 2, 18, 12, 33, 11, tzinfo=UTC)


@dataclass(frozen=True)
class XUser:
    id: str
    screen: str
    name: str = ""


ME = XUser("2444552670", "Jack_L_Lance", "Jack Lance")
TWITTER_EPOCH_MS = 1288834974657


def snowflake(moment: dt.datetime, sequence: int = 0) -> str:
    """The id X gives a tweet or an account made at ``moment``: ``(ms - epoch) << 22``, plus a sequence."""
    ms = int(moment.timestamp() * 1000)
    return str(((ms - TWITTER_EPOCH_MS) << 22) + sequence)


def account_made(moment: dt.datetime, screen: str, name: str = "", sequence: int = 0) -> XUser:
    """An account created at ``moment`` (accounts since about 2013 have snowflake ids)."""
    return XUser(snowflake(moment, sequence), screen, name)


def reused_name(old: XUser, newcomer: XUser) -> XUser:
    """A mention of ``old`` as the archive writes it once ``newcomer`` took ``old``'s screen name.

    X fills a mention's account in when the archive is made, by screen name:
    the mention keeps the name it was written with and carries the newcomer's id.
    """
    return XUser(newcomer.id, old.screen, newcomer.name)


def gone(screen: str) -> XUser:
    """A mention of a suspended or deleted account: X writes its id as ``-1``."""
    return XUser("-1", screen, "")


def created_at(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")


def _mention(user: XUser, start: int = 0) -> dict:
    return {
        "name": user.name or user.screen,
        "screen_name": user.screen,
        "indices": [str(start), str(start + len(user.screen) + 1)],
        "id_str": user.id,
        "id": user.id,
    }


def tweet(
    tweet_id: str,
    text: str = "just a thought",
    *,
    at: dt.datetime = BASE_TIME,
    mentions: tuple[XUser, ...] | list[XUser] = (),
    urls: tuple[str, ...] | list[str] = (),
    reply_to: XUser | None = None,
    reply_to_status: str | None = None,
    reply_screen_name: bool = True,
    wrapped: bool = True,
) -> dict:
    """A tweet as in tweets.js. ``reply_screen_name=False`` drops
    ``in_reply_to_screen_name`` as real archives sometimes do."""
    body: dict = {
        "edit_info": {"initial": {"editTweetIds": [tweet_id], "editableUntil": "2023-02-18T13:03:11.000Z",
                                  "editsRemaining": "5", "isEditEligible": False}},
        "retweeted": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "entities": {
            "hashtags": [],
            "symbols": [],
            "user_mentions": [_mention(u) for u in mentions],
            "urls": [{"url": "https://t.co/abc", "expanded_url": u, "display_url": u[8:30], "indices": ["0", "23"]}
                     for u in urls],
        },
        "display_text_range": ["0", str(len(text))],
        "favorite_count": "1",
        "id_str": tweet_id,
        "truncated": False,
        "retweet_count": "0",
        "id": tweet_id,
        "created_at": created_at(at),
        "favorited": False,
        "full_text": text,
        "lang": "en",
    }
    if reply_to is not None:
        body["in_reply_to_status_id_str"] = body["in_reply_to_status_id"] = reply_to_status or "1626916612560281601"
        body["in_reply_to_user_id_str"] = body["in_reply_to_user_id"] = reply_to.id
        if reply_screen_name:
            body["in_reply_to_screen_name"] = reply_to.screen
    return {"tweet": body} if wrapped else body


def reply(tweet_id: str, *, to: XUser, text: str | None = None, also_mention=(), mention_as: XUser | None = None,
          **kw) -> dict:
    """A reply; like X, the target is also the leading mention (written as ``mention_as`` when given,
    see :func:`reused_name`)."""
    text = text if text is not None else f"@{to.screen} did not know that"
    return tweet(tweet_id, text, reply_to=to, mentions=(mention_as or to, *also_mention), **kw)


def retweet(tweet_id: str, *, of: XUser, text: str = "x" * 200, with_mention: bool = True, **kw) -> dict:
    """A retweet: ``RT @screen: `` text truncated at 140 characters with an ellipsis."""
    full = f"RT @{of.screen}: {text}"
    if len(full) > 140:
        full = full[:139] + "\u2026"
    return tweet(tweet_id, full, mentions=(of,) if with_mention else (), **kw)


def quote(tweet_id: str, *, of: XUser, status_id: str = "1600000000000000000", host: str = "twitter.com",
          text: str = "so true", **kw) -> dict:
    url = f"https://{host}/{of.screen}/status/{status_id}"
    return tweet(tweet_id, f"{text} https://t.co/abc", urls=[url], **kw)


def dm(message_id: str, *, sender: XUser, recipient: XUser, text: str = "hey!", at: dt.datetime = BASE_TIME) -> dict:
    return {"messageCreate": {
        "recipientId": recipient.id, "reactions": [], "urls": [], "text": text, "mediaUrls": [],
        "senderId": sender.id, "id": message_id, "createdAt": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "editHistory": [],
    }}


def conversation(*messages: dict, between: tuple[XUser, XUser] | None = None) -> dict:
    """A 1:1 conversation: id = the two user ids joined by '-', newest message first."""
    if between is None:
        first = messages[0]["messageCreate"]
        ids = sorted({first["senderId"], first["recipientId"]}, key=int)
    else:
        ids = sorted((between[0].id, between[1].id), key=int)
    return {"dmConversation": {"conversationId": "-".join(ids), "messages": list(messages)}}


def group_message(message_id: str, *, sender: XUser, text: str = "hi all", at: dt.datetime = BASE_TIME) -> dict:
    """A group message: like the real ones, it has no recipientId."""
    message = dm(message_id, sender=sender, recipient=sender, text=text, at=at)
    del message["messageCreate"]["recipientId"]
    return message


def group_conversation(conversation_id: str, *, participants: list[XUser], messages: list[dict],
                       initiator: XUser | None = None, joined: list[XUser] = ()) -> dict:
    """Group DMs: newest first, so the join events come after the messages."""
    initiator = initiator or participants[0]
    events = list(messages)
    if joined:
        events.append({"participantsJoin": {"initiatingUserId": initiator.id, "userIds": [u.id for u in joined],
                                            "createdAt": "2023-01-02T00:00:00.000Z"}})
    events.append({"joinConversation": {"initiatingUserId": initiator.id,
                                        "participantsSnapshot": [u.id for u in participants],
                                        "createdAt": "2023-01-01T00:00:00.000Z"}})
    return {"dmConversation": {"conversationId": conversation_id, "messages": events}}


def js(global_name: str, value: object) -> str:
    return f"window.{global_name} = " + json.dumps(value, indent=2, separators=(",", " : "))


def _write_zip(path: Path, files: dict[str, str | bytes], *, root: str,
               extra: dict[str, str | bytes | None] | None) -> Path:
    """``files`` under ``root``, after ``extra`` added or replaced members (None removes one)."""
    for name, content in (extra or {}).items():
        if content is None:
            files.pop(name, None)
        else:
            files[name] = content
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(root + name, content)
    return path


def build_x_archive(
    path: str | Path,
    *,
    account: XUser | None = ME,
    tweets: list[dict] = (),
    dms: list[dict] = (),
    group_dms: list[dict] = (),
    likes: int = 0,
    followers: list[XUser] = (),
    following: list[XUser] = (),
    multipart: int = 1,
    old_names: bool = False,
    manifest: bool = True,
    root: str = "",
    extra: dict[str, str | bytes | None] | None = None,
) -> Path:
    """Write an X archive zip. ``multipart=N`` splits the tweets over
    ``tweets.js``, ``tweets-part1.js``...; ``old_names`` writes the 2020-era
    ``tweet.js``; ``root`` nests everything in a folder; ``extra`` adds or
    replaces members (name -> content, None removes one)."""
    path = Path(path)
    base = "tweet" if old_names else "tweets"
    files: dict[str, str | bytes] = {"Your archive.html": "<html><body>Your archive</body></html>",
                                     "data/README.txt": "Twitter archive README"}
    data_types: dict[str, dict] = {}

    def add(kind: str, manifest_key: str, items: list, parts: int = 1) -> None:
        parts = max(1, min(parts, len(items) or 1))
        listed = []
        for part in range(parts):
            chunk = items[part::parts]
            name = f"data/{kind}.js" if part == 0 else f"data/{kind}-part{part}.js"
            global_name = f"YTD.{kind.replace('-', '_')}.part{part}"
            files[name] = js(global_name, chunk)
            listed.append({"fileName": name, "globalName": global_name, "count": str(len(chunk))})
        data_types[manifest_key] = {"files": listed}

    if account is not None:
        add("account", "account", [{"account": {
            "email": "me@example.com", "createdVia": "web", "username": account.screen,
            "accountId": account.id, "createdAt": "2014-04-14T22:50:27.601Z", "accountDisplayName": account.name,
        }}])
    add(base, base, list(tweets), multipart)
    add("like", "like", [{"like": {"tweetId": str(1500000000000000000 + n), "fullText": f"liked {n}",
                                   "expandedUrl": f"https://twitter.com/i/web/status/{1500000000000000000 + n}"}}
                         for n in range(likes)])
    add("follower", "follower", [{"follower": {"accountId": u.id,
                                               "userLink": f"https://twitter.com/intent/user?user_id={u.id}"}}
                                 for u in followers])
    add("following", "following", [{"following": {"accountId": u.id,
                                                  "userLink": f"https://twitter.com/intent/user?user_id={u.id}"}}
                                   for u in following])
    add("direct-messages", "directMessages", list(dms))
    add("direct-messages-group", "directMessagesGroup", list(group_dms))
    files["data/block.js"] = js("YTD.block.part0", [])
    files["data/tweets_media/1626922779105759235-abc.jpg"] = b"\xff\xd8\xff\xe0fakejpeg"
    if manifest:
        user = account or ME
        files["data/manifest.js"] = "window.__THAR_CONFIG = " + json.dumps({
            "userInfo": {"accountId": user.id, "userName": user.screen, "displayName": user.name},
            "archiveInfo": {"sizeBytes": "3906163", "generationDate": "2022-11-06T15:53:33.138Z",
                            "isPartialArchive": False, "maxPartSizeBytes": "53687091200"},
            "readmeInfo": {"fileName": "data/README.txt", "directory": "data/", "name": "README.txt"},
            "dataTypes": data_types,
        }, indent=2)
    return _write_zip(path, files, root=root, extra=extra)


# -- Grailbird: the archive X gave until 2018 ----------------------------------------------
# index.html and a data/js/ folder of JavaScript files: one per month of tweets,
# ``Grailbird.data.tweets_2014_05 =`` then the tweets (API v1.1 objects: ``text``,
# numeric ``id`` beside ``id_str``, ``created_at`` as ``2014-05-02 09:30:00 +0000``,
# the author as ``user``, a retweet's original as ``retweeted_status``), newest first;
# ``tweet_index.js``, ``user_details.js`` and ``payload_details.js`` assign ``var``s.


def _grailbird_time(created: str) -> str:
    moment = dt.datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def _grailbird_user(user: XUser) -> dict:
    return {"name": user.name or user.screen, "screen_name": user.screen, "protected": False, "id_str": user.id,
            "profile_image_url_https": "https://pbs.twimg.com/profile_images/1/a_normal.jpg",
            "id": int(user.id), "verified": False}


def grailbird_tweet(modern: dict, owner: XUser = ME) -> dict:
    """The tweet ``tweet()``/``reply()``/``retweet()`` made, as a Grailbird archive writes it."""
    body = modern.get("tweet", modern)
    entities = body["entities"]
    shaped: dict = {
        "source": body["source"],
        "entities": {
            "user_mentions": [{"name": m["name"], "screen_name": m["screen_name"],
                               "indices": [int(i) for i in m["indices"]], "id_str": m["id_str"], "id": int(m["id"])}
                              for m in entities["user_mentions"]],
            "media": [],
            "hashtags": [],
            "urls": [{**u, "indices": [int(i) for i in u["indices"]]} for u in entities["urls"]],
        },
        "geo": {},
        "id_str": body["id_str"],
        "text": body["full_text"],
        "id": int(body["id_str"]),
        "created_at": _grailbird_time(body["created_at"]),
        "user": _grailbird_user(owner),
    }
    if "in_reply_to_user_id_str" in body:
        shaped["in_reply_to_status_id_str"] = body["in_reply_to_status_id_str"]
        shaped["in_reply_to_status_id"] = int(body["in_reply_to_status_id_str"])
        shaped["in_reply_to_user_id_str"] = body["in_reply_to_user_id_str"]
        shaped["in_reply_to_user_id"] = int(body["in_reply_to_user_id_str"])
        if "in_reply_to_screen_name" in body:
            shaped["in_reply_to_screen_name"] = body["in_reply_to_screen_name"]
    mentions = entities["user_mentions"]
    if body["full_text"].startswith("RT @") and mentions:
        author = XUser(mentions[0]["id_str"], mentions[0]["screen_name"], mentions[0]["name"])
        original_id = str(int(body["id_str"]) - 7919)
        shaped["retweeted_status"] = {
            "source": body["source"], "entities": {"user_mentions": [], "media": [], "hashtags": [], "urls": []},
            "geo": {}, "id_str": original_id, "text": body["full_text"].split(": ", 1)[-1], "id": int(original_id),
            "created_at": shaped["created_at"], "user": _grailbird_user(author),
        }
    return shaped


def build_grailbird_archive(
    path: str | Path,
    *,
    account: XUser | None = ME,
    tweets: list[dict] = (),
    root: str = "",
    extra: dict[str, str | bytes | None] | None = None,
) -> Path:
    """Write a Grailbird archive zip of ``tweets`` (made with ``tweet()`` & co.); ``extra`` as in
    :func:`build_x_archive`."""
    path = Path(path)
    owner = account or ME
    months: dict[str, list[dict]] = {}
    for modern in tweets:
        shaped = grailbird_tweet(modern, owner)
        months.setdefault(shaped["created_at"][:7].replace("-", "_"), []).append(shaped)
    files: dict[str, str | bytes] = {
        "index.html": "<!DOCTYPE html><html><head><title>Your Twitter archive</title></head><body></body></html>",
        "css/application.min.css": "body{}",
        "js/application.min.js": "var Grailbird=function(){};Grailbird.data=Grailbird.data||{};",
        "lib/twt/twt.min.js": "",
        "img/bg.png": b"\x89PNG\r\n\x1a\nfake",
    }

    def dump(value: object) -> str:
        return json.dumps(value, indent=2, separators=(",", " : "))

    index = []
    for month in sorted(months, reverse=True):
        items = sorted(months[month], key=lambda t: t["id"], reverse=True)
        files[f"data/js/tweets/{month}.js"] = f"Grailbird.data.tweets_{month} =\n" + dump(items)
        year, number = month.split("_")
        index.append({"file_name": f"data/js/tweets/{month}.js", "year": int(year), "var_name": f"tweets_{month}",
                      "tweet_count": len(items), "month": int(number)})
    files["data/js/tweet_index.js"] = "var tweet_index =  " + dump(index)
    if account is not None:
        files["data/js/user_details.js"] = "var user_details =  " + dump({
            "screen_name": account.screen, "location": "", "full_name": account.name, "bio": "",
            "id": account.id, "created_at": "2014-04-14 22:50:27 +0000"})
    files["data/js/payload_details.js"] = "var payload_details =  " + dump({
        "tweets": len(tweets), "created_at": "2018-03-01 10:00:00 +0000", "lang": "en"})
    rows = ['"tweet_id","in_reply_to_status_id","in_reply_to_user_id","timestamp","source","text",'
            '"retweeted_status_id","retweeted_status_user_id","retweeted_status_timestamp","expanded_urls"']
    for items in months.values():
        for t in items:
            original = t.get("retweeted_status", {})
            cells = [t["id_str"], t.get("in_reply_to_status_id_str", ""), t.get("in_reply_to_user_id_str", ""),
                     t["created_at"], t["source"], t["text"], original.get("id_str", ""),
                     original.get("user", {}).get("id_str", ""), original.get("created_at", ""),
                     ",".join(u["expanded_url"] for u in t["entities"]["urls"])]
            rows.append(",".join('"' + c.replace('"', '""') + '"' for c in cells))
    files["tweets.csv"] = "\n".join(rows) + "\n"
    return _write_zip(path, files, root=root, extra=extra)
