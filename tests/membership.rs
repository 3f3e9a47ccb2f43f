//! Private rooms, direct messages and room membership (docs: the membership contract) against a
//! real server: who may do what to which kind of room, the live `added`/`removed` frames, DMs,
//! invites, roles, user search and input validation.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{error_code, Client, TestServer, Ws};
use confab::clock::{Clock, ManualClock, SystemClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The tests of this file run in parallel, each with its own server, on a small machine; the
/// one that times delivery (within 100 ms) takes this for writing so no other test of this
/// file runs meanwhile, and every other test takes it for reading.
static TIMED: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A well-formed room id that names no room: what a hidden room must look like.
const MISSING_ROOM: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
/// An invite id that names no invite.
const MISSING_INVITE: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAW";

// ---------------------------------------------------------------------------------------------
// The cast and their rooms

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Public,
    Private,
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// No session at all.
    Anonymous,
    /// A registered user who belongs to the room: the "third user".
    Outsider,
    /// A plain member.
    Member,
    /// The room's owner (its creator; for a direct room, who created the DM).
    Owner,
    /// The server admin, who is not in the room.
    Admin,
}

/// The matrix's columns, in order.
const ACTORS: [Actor; 5] = [
    Actor::Anonymous,
    Actor::Outsider,
    Actor::Member,
    Actor::Owner,
    Actor::Admin,
];

/// The people of a test server, registered once (the admin first: the first account is the admin).
struct Cast {
    anonymous: Client,
    admin: Client,
    owner: Client,
    member: Client,
    outsider: Client,
    /// Someone nobody has added yet: the target of `PUT members/{username}`.
    extra: Client,
}

impl Cast {
    async fn register(server: &TestServer) -> Self {
        let admin = server.user("root").await;
        let (_, me) = admin.get("/api/auth/me").await;
        assert_eq!(
            me["user"]["is_admin"], true,
            "the first account is the admin"
        );
        Self {
            anonymous: server.client(),
            admin,
            owner: server.user("olivia").await,
            member: server.user("mike").await,
            outsider: server.user("oscar").await,
            extra: server.user("xena").await,
        }
    }

    fn client(&self, actor: Actor) -> &Client {
        match actor {
            Actor::Anonymous => &self.anonymous,
            Actor::Outsider => &self.outsider,
            Actor::Member => &self.member,
            Actor::Owner => &self.owner,
            Actor::Admin => &self.admin,
        }
    }

    /// A fresh room of `kind`: `owner` owns it, `member` belongs to it, nobody else does. A
    /// private room also holds one invite, created by the owner.
    async fn fixture(&self, kind: Kind, n: usize) -> Fixture {
        let id = match kind {
            Kind::Public | Kind::Private => {
                let kind_name = if kind == Kind::Public {
                    "public"
                } else {
                    "private"
                };
                let room = create_room(&self.owner, &format!("matrix {n}"), kind_name).await;
                room["id"].as_str().expect("id").to_string()
            }
            Kind::Direct => {
                let (status, room) = self
                    .owner
                    .post("/api/dms", json!({"users": [self.member.username]}))
                    .await;
                assert_eq!(
                    status,
                    StatusCode::CREATED,
                    "a DM for people whose previous DM was deleted is a new room: {room}"
                );
                room["id"].as_str().expect("id").to_string()
            }
        };
        match kind {
            Kind::Public => {
                let (status, body) = self
                    .member
                    .post_empty(&format!("/api/rooms/{id}/join"))
                    .await;
                assert_eq!(status, StatusCode::OK, "fixture join: {body}");
            }
            Kind::Private => add_member(&self.owner, &id, &self.member.username).await,
            Kind::Direct => {}
        }
        let invite = if kind == Kind::Private {
            let (status, invite) = self
                .owner
                .post(&format!("/api/rooms/{id}/invites"), json!({}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "fixture invite: {invite}");
            invite["id"].as_str().expect("invite id").to_string()
        } else {
            MISSING_INVITE.to_string()
        };
        Fixture { id, invite }
    }

    /// Deletes the fixture's room (if it still exists), so the next DM for the same people is new.
    async fn teardown(&self, fixture: &Fixture) {
        let (status, body) = self
            .admin
            .delete(&format!("/api/rooms/{}", fixture.id))
            .await;
        assert!(
            status == StatusCode::NO_CONTENT || status == StatusCode::NOT_FOUND,
            "teardown: {status} {body}"
        );
    }

    /// The room's members and roles as the admin sees them, or None once the room is gone.
    async fn members(&self, room: &str) -> Option<Vec<(String, String)>> {
        let (status, body) = self.admin.get(&format!("/api/rooms/{room}/members")).await;
        if status == StatusCode::NOT_FOUND {
            return None;
        }
        assert_eq!(status, StatusCode::OK, "admin reads members: {body}");
        Some(member_roles(&body))
    }
}

struct Fixture {
    id: String,
    /// An invite of the room (private rooms) or an id that names none.
    invite: String,
}

// ---------------------------------------------------------------------------------------------
// The REST authorization matrix

/// Every REST request that names a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    GetRoom,
    PatchTopic,
    DeleteRoom,
    Join,
    Leave,
    GetMessages,
    PostMessage,
    GetMembers,
    /// `PUT members/{extra}`, no body.
    AddMember,
    /// `DELETE members/{member}`: for the member themself, that is leaving.
    RemoveMember,
    /// `DELETE members/{owner}`: the room's only owner.
    RemoveOwner,
    CreateInvite,
    ListInvites,
    /// `DELETE invites/{id}`: the owner's invite in a private room, a missing id elsewhere.
    DeleteInvite,
}

impl Request {
    fn build(self, cast: &Cast, room: &str, invite: &str) -> (Method, String, Value) {
        let base = format!("/api/rooms/{room}");
        match self {
            Request::GetRoom => (Method::GET, base, Value::Null),
            Request::PatchTopic => (Method::PATCH, base, json!({"topic": "matrix topic"})),
            Request::DeleteRoom => (Method::DELETE, base, Value::Null),
            Request::Join => (Method::POST, format!("{base}/join"), Value::Null),
            Request::Leave => (Method::POST, format!("{base}/leave"), Value::Null),
            Request::GetMessages => (Method::GET, format!("{base}/messages"), Value::Null),
            Request::PostMessage => (
                Method::POST,
                format!("{base}/messages"),
                json!({"body": "matrix message"}),
            ),
            Request::GetMembers => (Method::GET, format!("{base}/members"), Value::Null),
            Request::AddMember => (
                Method::PUT,
                format!("{base}/members/{}", cast.extra.username),
                Value::Null,
            ),
            Request::RemoveMember => (
                Method::DELETE,
                format!("{base}/members/{}", cast.member.username),
                Value::Null,
            ),
            Request::RemoveOwner => (
                Method::DELETE,
                format!("{base}/members/{}", cast.owner.username),
                Value::Null,
            ),
            Request::CreateInvite => (Method::POST, format!("{base}/invites"), json!({})),
            Request::ListInvites => (Method::GET, format!("{base}/invites"), Value::Null),
            Request::DeleteInvite => (
                Method::DELETE,
                format!("{base}/invites/{invite}"),
                Value::Null,
            ),
        }
    }
}

/// What one cell of the matrix expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Success with this status.
    Done(u16),
    /// An error with this status and code.
    Fails(u16, &'static str),
    /// 404 `not_found`, byte for byte the answer for a room id that names no room.
    Hidden,
    /// 404 with either `not_found` or `not_member`: the room is visible to this caller (an
    /// admin) but they are not in it, and the contract allows both codes here.
    NotIn,
    /// Refused (a 4xx other than 401, with an error body, and nothing changes); the contract
    /// does not say which check comes first here.
    Refused,
}

const OK: Expect = Expect::Done(200);
const CREATED: Expect = Expect::Done(201);
const GONE: Expect = Expect::Done(204);
const UNAUTH: Expect = Expect::Fails(401, "unauthorized");
const FORBID: Expect = Expect::Fails(403, "forbidden");
const HIDDEN: Expect = Expect::Hidden;
const NOT_IN: Expect = Expect::NotIn;
const NOT_MEMBER: Expect = Expect::Fails(404, "not_member");
const FIXED: Expect = Expect::Fails(400, "direct_room_fixed");
const PUBLIC_ROOM: Expect = Expect::Fails(400, "invite_public_room");
const NO_INVITE: Expect = Expect::Fails(404, "invite_not_found");
const LAST_OWNER: Expect = Expect::Fails(409, "last_owner");
const REFUSED: Expect = Expect::Refused;

use Kind::{Direct, Private, Public};
use Request::*;

/// Who may do what, one row per request and kind; the columns are `ACTORS`. Every cell runs on
/// a fresh room (see `Cast::fixture`).
#[rustfmt::skip]
const MATRIX: &[(Request, Kind, [Expect; 5])] = &[
    // request      kind      anonymous outsider  member    owner       admin
    (GetRoom,       Public,  [UNAUTH,   OK,       OK,       OK,         OK]),
    (GetRoom,       Private, [UNAUTH,   HIDDEN,   OK,       OK,         OK]),
    (GetRoom,       Direct,  [UNAUTH,   HIDDEN,   OK,       OK,         OK]),
    (PatchTopic,    Public,  [UNAUTH,   FORBID,   FORBID,   OK,         OK]),
    (PatchTopic,    Private, [UNAUTH,   HIDDEN,   FORBID,   OK,         OK]),
    (PatchTopic,    Direct,  [UNAUTH,   HIDDEN,   FORBID,   OK,         OK]),
    (DeleteRoom,    Public,  [UNAUTH,   FORBID,   FORBID,   GONE,       GONE]),
    (DeleteRoom,    Private, [UNAUTH,   HIDDEN,   FORBID,   GONE,       GONE]),
    (DeleteRoom,    Direct,  [UNAUTH,   HIDDEN,   FORBID,   GONE,       GONE]),
    (Join,          Public,  [UNAUTH,   OK,       OK,       OK,         OK]),
    (Join,          Private, [UNAUTH,   HIDDEN,   OK,       OK,         HIDDEN]),
    (Join,          Direct,  [UNAUTH,   HIDDEN,   OK,       OK,         HIDDEN]),
    (Leave,         Public,  [UNAUTH,   NOT_MEMBER, GONE,   GONE,       NOT_MEMBER]),
    (Leave,         Private, [UNAUTH,   HIDDEN,   GONE,     GONE,       NOT_IN]),
    (Leave,         Direct,  [UNAUTH,   HIDDEN,   GONE,     GONE,       NOT_IN]),
    (GetMessages,   Public,  [UNAUTH,   OK,       OK,       OK,         OK]),
    (GetMessages,   Private, [UNAUTH,   HIDDEN,   OK,       OK,         HIDDEN]),
    (GetMessages,   Direct,  [UNAUTH,   HIDDEN,   OK,       OK,         HIDDEN]),
    (PostMessage,   Public,  [UNAUTH,   CREATED,  CREATED,  CREATED,    CREATED]),
    (PostMessage,   Private, [UNAUTH,   HIDDEN,   CREATED,  CREATED,    HIDDEN]),
    (PostMessage,   Direct,  [UNAUTH,   HIDDEN,   CREATED,  CREATED,    HIDDEN]),
    (GetMembers,    Public,  [UNAUTH,   OK,       OK,       OK,         OK]),
    (GetMembers,    Private, [UNAUTH,   HIDDEN,   OK,       OK,         OK]),
    (GetMembers,    Direct,  [UNAUTH,   HIDDEN,   OK,       OK,         OK]),
    (AddMember,     Public,  [UNAUTH,   FORBID,   CREATED,  CREATED,    FORBID]),
    (AddMember,     Private, [UNAUTH,   HIDDEN,   CREATED,  CREATED,    FORBID]),
    (AddMember,     Direct,  [UNAUTH,   HIDDEN,   FIXED,    FIXED,      FIXED]),
    (RemoveMember,  Public,  [UNAUTH,   FORBID,   GONE,     GONE,       GONE]),
    (RemoveMember,  Private, [UNAUTH,   HIDDEN,   GONE,     GONE,       GONE]),
    (RemoveMember,  Direct,  [UNAUTH,   HIDDEN,   GONE,     FIXED,      GONE]),
    (RemoveOwner,   Public,  [UNAUTH,   FORBID,   FORBID,   LAST_OWNER, GONE]),
    (RemoveOwner,   Private, [UNAUTH,   HIDDEN,   FORBID,   LAST_OWNER, GONE]),
    (RemoveOwner,   Direct,  [UNAUTH,   HIDDEN,   FIXED,    LAST_OWNER, GONE]),
    (CreateInvite,  Public,  [UNAUTH,   REFUSED,  PUBLIC_ROOM, PUBLIC_ROOM, REFUSED]),
    (CreateInvite,  Private, [UNAUTH,   HIDDEN,   CREATED,  CREATED,    NOT_IN]),
    (CreateInvite,  Direct,  [UNAUTH,   HIDDEN,   FIXED,    FIXED,      REFUSED]),
    (ListInvites,   Public,  [UNAUTH,   REFUSED,  OK,       OK,         REFUSED]),
    (ListInvites,   Private, [UNAUTH,   HIDDEN,   OK,       OK,         NOT_IN]),
    (ListInvites,   Direct,  [UNAUTH,   HIDDEN,   OK,       OK,         NOT_IN]),
    (DeleteInvite,  Public,  [UNAUTH,   REFUSED,  REFUSED,  NO_INVITE,  NO_INVITE]),
    (DeleteInvite,  Private, [UNAUTH,   HIDDEN,   FORBID,   GONE,       GONE]),
    (DeleteInvite,  Direct,  [UNAUTH,   HIDDEN,   NO_INVITE, NO_INVITE, NO_INVITE]),
];

/// Runs every cell of `MATRIX` for `kind` and reports all mismatches at once.
async fn run_rest_matrix(kind: Kind) {
    let server = TestServer::start().await;
    let cast = Cast::register(&server).await;
    let mut failures = Vec::new();
    let mut n = 0;
    for &(request, row_kind, expectations) in MATRIX {
        if row_kind != kind {
            continue;
        }
        for (actor, expect) in ACTORS.into_iter().zip(expectations) {
            n += 1;
            let fixture = cast.fixture(kind, n).await;
            if let Err(why) = run_cell(&cast, &fixture, request, actor, expect).await {
                failures.push(format!("{request:?} {kind:?} as {actor:?}: {why}"));
            }
            cast.teardown(&fixture).await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
}

async fn send(client: &Client, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
    let request = client
        .http
        .request(method, format!("{}{path}", client.base));
    let request = if body.is_null() {
        request
    } else {
        request.json(body)
    };
    client.send(request).await
}

/// One cell: the answer, then what it did (or did not do) to the room.
async fn run_cell(
    cast: &Cast,
    fixture: &Fixture,
    request: Request,
    actor: Actor,
    expect: Expect,
) -> Result<(), String> {
    let client = cast.client(actor);
    let before = cast.members(&fixture.id).await;
    let (method, path, body) = request.build(cast, &fixture.id, &fixture.invite);
    let (status, answer) = send(client, method.clone(), &path, &body).await;
    let got = format!("got {} {answer}", status.as_u16());
    let error = || answer["error"]["code"].as_str().unwrap_or("<no code>");
    match expect {
        Expect::Done(code) => {
            if status.as_u16() != code {
                return Err(format!("expected {code}, {got}"));
            }
        }
        Expect::Fails(code, name) => {
            if status.as_u16() != code || error() != name {
                return Err(format!("expected {code} {name}, {got}"));
            }
        }
        Expect::Hidden => {
            let (missing_method, missing_path, missing_body) =
                request.build(cast, MISSING_ROOM, &fixture.invite);
            let missing = send(client, missing_method, &missing_path, &missing_body).await;
            if status != StatusCode::NOT_FOUND || error() != "not_found" {
                return Err(format!("expected 404 not_found, {got}"));
            }
            if (status, &answer) != (missing.0, &missing.1) {
                return Err(format!(
                    "the answer differs from a missing room's: {got}, missing room: {} {}",
                    missing.0, missing.1
                ));
            }
        }
        Expect::NotIn => {
            if status != StatusCode::NOT_FOUND || !["not_found", "not_member"].contains(&error()) {
                return Err(format!("expected 404 not_found or not_member, {got}"));
            }
        }
        Expect::Refused => {
            if !status.is_client_error() || status == StatusCode::UNAUTHORIZED {
                return Err(format!("expected a refusal, {got}"));
            }
        }
    }
    if !status.is_success() {
        if answer["error"]["message"]
            .as_str()
            .map_or(true, str::is_empty)
        {
            return Err(format!("error without code and message: {got}"));
        }
        let after = cast.members(&fixture.id).await;
        if after != before {
            return Err(format!(
                "a refused request changed the members: {before:?} -> {after:?}"
            ));
        }
        return Ok(());
    }
    check_effect(cast, fixture, request, actor, &answer, before).await
}

/// What a successful request must have done.
async fn check_effect(
    cast: &Cast,
    fixture: &Fixture,
    request: Request,
    actor: Actor,
    answer: &Value,
    before: Option<Vec<(String, String)>>,
) -> Result<(), String> {
    let name = &cast.client(actor).username;
    let after = cast.members(&fixture.id).await;
    let has = |who: &str| {
        after
            .as_ref()
            .is_some_and(|m| m.iter().any(|(user, _)| user == who))
    };
    let role_of = |who: &str| {
        after.as_ref().and_then(|m| {
            m.iter()
                .find(|(user, _)| user == who)
                .map(|(_, r)| r.clone())
        })
    };
    let ok = match request {
        Request::GetRoom | Request::Join | Request::PatchTopic => {
            answer["id"] == fixture.id.as_str()
                && (request != Request::Join || has(name))
                && (request != Request::PatchTopic || answer["topic"] == "matrix topic")
        }
        Request::DeleteRoom => after.is_none(),
        Request::Leave => !has(name),
        Request::PostMessage => answer["body"] == "matrix message" && has(name),
        Request::GetMessages => answer["messages"].is_array() && after == before,
        Request::GetMembers => answer["members"].is_array() && Some(member_roles(answer)) == before,
        Request::AddMember => {
            answer["username"] == cast.extra.username.as_str()
                && role_of(&cast.extra.username).as_deref() == Some("member")
        }
        Request::RemoveMember => !has(&cast.member.username),
        Request::RemoveOwner => {
            !has(&cast.owner.username) && role_of(&cast.member.username).as_deref() == Some("owner")
        }
        Request::CreateInvite => answer["code"].is_string() && after == before,
        Request::ListInvites => answer["invites"].is_array() && after == before,
        Request::DeleteInvite => {
            let (_, list) = cast
                .owner
                .get(&format!("/api/rooms/{}/invites", fixture.id))
                .await;
            !list.to_string().contains(&fixture.invite) && after == before
        }
    };
    // Whatever happened, a room with members keeps an owner.
    let owned = after.as_ref().map_or(true, |members| {
        members.is_empty() || members.iter().any(|(_, role)| role == "owner")
    });
    if ok && owned {
        Ok(())
    } else {
        Err(format!(
            "answered {answer} but the members went {before:?} -> {after:?}"
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_of_rest_routes_on_public_rooms() {
    let _shared = TIMED.read().await;
    run_rest_matrix(Kind::Public).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_of_rest_routes_on_private_rooms() {
    let _shared = TIMED.read().await;
    run_rest_matrix(Kind::Private).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_of_rest_routes_on_direct_rooms() {
    let _shared = TIMED.read().await;
    run_rest_matrix(Kind::Direct).await;
}

// ---------------------------------------------------------------------------------------------
// The WebSocket authorization matrix

/// Every client frame that names a room. `Send` and `Typing` go to a room the connection has
/// not joined; `JoinThenSend` joins first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Join,
    Send,
    Typing,
    JoinThenSend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WsExpect {
    /// The upgrade itself is refused with 401.
    NoSocket,
    Joined,
    /// The sender's acknowledgement: its message, with its nonce.
    Acked,
    Error(&'static str),
    /// An error frame equal to the one for a room id that names no room.
    Hidden,
}

const NO_SOCKET: WsExpect = WsExpect::NoSocket;
const JOINED: WsExpect = WsExpect::Joined;
const ACKED: WsExpect = WsExpect::Acked;
const NOT_JOINED: WsExpect = WsExpect::Error("not_joined");
const WS_HIDDEN: WsExpect = WsExpect::Hidden;

use Frame::{Join as WsJoin, JoinThenSend, Send as WsSend, Typing};

#[rustfmt::skip]
const WS_MATRIX: &[(Frame, Kind, [WsExpect; 5])] = &[
    // frame        kind      anonymous  outsider    member      owner       admin
    (WsJoin,        Public,  [NO_SOCKET, JOINED,     JOINED,     JOINED,     JOINED]),
    (WsJoin,        Private, [NO_SOCKET, WS_HIDDEN,  JOINED,     JOINED,     WS_HIDDEN]),
    (WsJoin,        Direct,  [NO_SOCKET, WS_HIDDEN,  JOINED,     JOINED,     WS_HIDDEN]),
    (WsSend,        Public,  [NO_SOCKET, NOT_JOINED, NOT_JOINED, NOT_JOINED, NOT_JOINED]),
    (WsSend,        Private, [NO_SOCKET, WS_HIDDEN,  NOT_JOINED, NOT_JOINED, WS_HIDDEN]),
    (WsSend,        Direct,  [NO_SOCKET, WS_HIDDEN,  NOT_JOINED, NOT_JOINED, WS_HIDDEN]),
    (Typing,        Public,  [NO_SOCKET, NOT_JOINED, NOT_JOINED, NOT_JOINED, NOT_JOINED]),
    (Typing,        Private, [NO_SOCKET, WS_HIDDEN,  NOT_JOINED, NOT_JOINED, WS_HIDDEN]),
    (Typing,        Direct,  [NO_SOCKET, WS_HIDDEN,  NOT_JOINED, NOT_JOINED, WS_HIDDEN]),
    (JoinThenSend,  Public,  [NO_SOCKET, ACKED,      ACKED,      ACKED,      ACKED]),
    (JoinThenSend,  Private, [NO_SOCKET, WS_HIDDEN,  ACKED,      ACKED,      WS_HIDDEN]),
    (JoinThenSend,  Direct,  [NO_SOCKET, WS_HIDDEN,  ACKED,      ACKED,      WS_HIDDEN]),
];

/// The frames that answer a client frame; `added`, `presence`, `room_updated` and the like
/// may come in between and are skipped.
const ANSWERS: [&str; 3] = ["joined", "message", "error"];

/// The next answer frame, or None if none comes within `within`.
async fn answer(ws: &mut Ws, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.recv()).await.ok()?;
        if ANSWERS.contains(&frame["type"].as_str().unwrap_or_default()) {
            return Some(frame);
        }
    }
}

/// Sends `frame`'s client frames naming `room` on a fresh connection; returns the answers.
async fn ws_exchange(client: &Client, frame: Frame, room: &str) -> Vec<Option<Value>> {
    let mut ws = client.ws().await;
    let join = json!({"type": "join", "room": room});
    let send = json!({"type": "send", "room": room, "body": "over the socket", "nonce": "ws-1"});
    let mut answers = Vec::new();
    let wait = Duration::from_secs(3);
    match frame {
        Frame::Join => {
            ws.send_json(join).await;
            answers.push(answer(&mut ws, wait).await);
        }
        Frame::Send => {
            ws.send_json(send).await;
            answers.push(answer(&mut ws, wait).await);
        }
        Frame::Typing => {
            ws.send_json(json!({"type": "typing", "room": room})).await;
            answers.push(answer(&mut ws, wait).await);
        }
        Frame::JoinThenSend => {
            ws.send_json(join).await;
            answers.push(answer(&mut ws, wait).await);
            ws.send_json(send).await;
            answers.push(answer(&mut ws, wait).await);
        }
    }
    let _ = ws.socket.close(None).await;
    answers
}

async fn run_ws_cell(
    cast: &Cast,
    fixture: &Fixture,
    frame: Frame,
    actor: Actor,
    expect: WsExpect,
) -> Result<(), String> {
    if actor == Actor::Anonymous {
        let status = upgrade_status(&cast.anonymous.base).await;
        return match (expect, status) {
            (WsExpect::NoSocket, Some(401)) => Ok(()),
            _ => Err(format!("expected {expect:?}, upgrade answered {status:?}")),
        };
    }
    let client = cast.client(actor);
    let answers = ws_exchange(client, frame, &fixture.id).await;
    let last = answers.last().cloned().flatten().unwrap_or(Value::Null);
    let got = format!("got {answers:?}");
    let fine = match expect {
        WsExpect::NoSocket => false,
        WsExpect::Joined => last["type"] == "joined" && last["room"]["id"] == fixture.id.as_str(),
        WsExpect::Acked => {
            answers[0].as_ref().is_some_and(|f| f["type"] == "joined")
                && last["type"] == "message"
                && last["nonce"] == "ws-1"
                && last["message"]["room"] == fixture.id.as_str()
                && last["message"]["author"] == client.username.as_str()
        }
        WsExpect::Error(code) => last["type"] == "error" && last["code"] == code,
        WsExpect::Hidden => {
            let missing = ws_exchange(client, frame, MISSING_ROOM).await;
            let hidden = answers.iter().all(|a| {
                a.as_ref()
                    .is_some_and(|f| f["type"] == "error" && f["code"] == "not_found")
            });
            if hidden && answers != missing {
                return Err(format!(
                    "{got}, but for a missing room: {missing:?} (the room id aside, they must match)"
                ));
            }
            hidden
        }
    };
    if fine {
        Ok(())
    } else {
        Err(format!("expected {expect:?}, {got}"))
    }
}

/// The status of an upgrade without a session, or None if it was accepted.
async fn upgrade_status(base: &str) -> Option<u16> {
    match tokio_tungstenite::connect_async(common::ws_url(base)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        Err(err) => panic!("upgrade failed without an answer: {err}"),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_of_websocket_frames_on_every_kind_of_room() {
    let _shared = TIMED.read().await;
    let server = TestServer::start().await;
    let cast = Cast::register(&server).await;
    let mut failures = Vec::new();
    let mut n = 0;
    for &(frame, kind, expectations) in WS_MATRIX {
        for (actor, expect) in ACTORS.into_iter().zip(expectations) {
            n += 1;
            let fixture = cast.fixture(kind, n).await;
            if let Err(why) = run_ws_cell(&cast, &fixture, frame, actor, expect).await {
                failures.push(format!("{frame:?} {kind:?} as {actor:?}: {why}"));
            }
            cast.teardown(&fixture).await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Who sees which rooms

/// Per kind and actor: listed in `GET /rooms`, listed in `GET /rooms?member=true`, and the
/// `is_member` and `role` that `GET /rooms/{id}` shows them (None: the room is hidden).
/// What `GET /rooms/{id}` shows: `is_member` and `role`, or None for a hidden room.
type Standing = Option<(bool, Option<&'static str>)>;

#[rustfmt::skip]
const LISTINGS: &[(Kind, Actor, bool, bool, Standing)] = &[
    // kind    actor            listed  mine    GET /rooms/{id}: is_member, role
    (Public,  Actor::Outsider, true,   false,  Some((false, None))),
    (Public,  Actor::Member,   true,   true,   Some((true, Some("member")))),
    (Public,  Actor::Owner,    true,   true,   Some((true, Some("owner")))),
    (Public,  Actor::Admin,    true,   false,  Some((false, None))),
    (Private, Actor::Outsider, false,  false,  None),
    (Private, Actor::Member,   true,   true,   Some((true, Some("member")))),
    (Private, Actor::Owner,    true,   true,   Some((true, Some("owner")))),
    (Private, Actor::Admin,    false,  false,  Some((false, None))),
    (Direct,  Actor::Outsider, false,  false,  None),
    (Direct,  Actor::Member,   true,   true,   Some((true, Some("member")))),
    (Direct,  Actor::Owner,    true,   true,   Some((true, Some("owner")))),
    (Direct,  Actor::Admin,    false,  false,  Some((false, None))),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_listed_and_described_only_to_those_who_may_see_them() {
    let _shared = TIMED.read().await;
    let server = TestServer::start().await;
    let cast = Cast::register(&server).await;
    let mut rooms = Vec::new();
    for (n, kind) in [Public, Private, Direct].into_iter().enumerate() {
        rooms.push((kind, cast.fixture(kind, n).await.id));
    }
    let room_of = |kind: Kind| {
        rooms
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("room")
            .1
            .clone()
    };
    for &(kind, actor, listed, mine, standing) in LISTINGS {
        let client = cast.client(actor);
        let id = room_of(kind);
        let what = format!("{kind:?} room as {actor:?}");
        let (status, all) = client.get("/api/rooms").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            room_ids(&all).contains(&id),
            listed,
            "GET /rooms, {what}: {all}"
        );
        let (status, own) = client.get("/api/rooms?member=true").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            room_ids(&own).contains(&id),
            mine,
            "?member=true, {what}: {own}"
        );
        if let Some(listed_room) = all["rooms"]
            .as_array()
            .expect("rooms")
            .iter()
            .find(|r| r["id"] == id.as_str())
        {
            assert_room_shape(listed_room, kind, &what);
        }

        let (status, room) = client.get(&format!("/api/rooms/{id}")).await;
        match standing {
            None => {
                assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {room}");
                assert_eq!(error_code(&room), "not_found");
            }
            Some((is_member, role)) => {
                assert_eq!(status, StatusCode::OK, "{what}: {room}");
                assert_room_shape(&room, kind, &what);
                assert_eq!(room["is_member"], is_member, "{what}: {room}");
                assert_eq!(room["role"].as_str(), role, "{what}: {room}");
                if role.is_none() {
                    assert!(
                        room.get("role").is_none(),
                        "no role key for a non-member: {room}"
                    );
                }
                assert_eq!(room["member_count"], 2, "{what}: {room}");
            }
        }
    }
    let (status, body) = cast.anonymous.get("/api/rooms?member=true").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    error_code(&body);
    server.stop().await;
}

/// The fields every Room carries, by kind.
fn assert_room_shape(room: &Value, kind: Kind, what: &str) {
    let kind_name = match kind {
        Public => "public",
        Private => "private",
        Direct => "direct",
    };
    assert_eq!(room["kind"], kind_name, "{what}: {room}");
    assert!(room["topic"].is_string(), "topic is a string: {room}");
    assert!(room["member_count"].is_u64(), "member_count: {room}");
    assert!(room["is_member"].is_boolean(), "is_member: {room}");
    if kind == Direct {
        assert_eq!(room["name"], "", "a direct room has no name: {room}");
        assert_eq!(
            room["members"],
            json!(["mike", "olivia"]),
            "sorted members: {room}"
        );
    } else {
        assert!(
            room.get("members").is_none(),
            "members only for direct rooms: {room}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Live membership frames

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_while_connected_is_told_at_once_and_hears_nothing_more() {
    let _alone = TIMED.write().await;
    let server = TestServer::start().await;
    let _admin = server.user("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = create_room(&alice, "ops", "private").await;
    let room = room["id"].as_str().expect("id").to_string();
    add_member(&alice, &room, "bob").await;

    let mut a = alice.ws().await;
    a.join(&room, None, 0).await;
    let mut b = bob.ws().await;
    b.join(&room, None, 0).await;
    let mut b_elsewhere = bob.ws().await; // joined to nothing: still told
    alice.post_message(&room, "before").await;
    assert_eq!(b.recv_type("message").await["message"]["body"], "before");
    assert_eq!(a.recv_type("message").await["message"]["body"], "before");

    let (status, body) = alice
        .delete(&format!("/api/rooms/{room}/members/bob"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let removed = tokio::time::timeout(Duration::from_millis(100), b.recv_type("removed"))
        .await
        .expect("`removed` within 100 ms of the DELETE answer");
    assert_eq!(removed, json!({"type": "removed", "room": room}));
    let elsewhere =
        tokio::time::timeout(Duration::from_millis(100), b_elsewhere.recv_type("removed"))
            .await
            .expect("every connection of the user is told");
    assert_eq!(elsewhere, removed);

    // Sent right after the answer: the other member gets it, bob does not.
    alice.post_message(&room, "after").await;
    assert_eq!(a.recv_type("message").await["message"]["body"], "after");
    b.expect_silence(Duration::from_millis(100)).await;

    // The room is hidden from bob everywhere.
    for path in [
        format!("/api/rooms/{room}/messages"),
        format!("/api/rooms/{room}"),
    ] {
        let (status, body) = bob.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(error_code(&body), "not_found");
    }
    let (_, history) = alice.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(2));

    // Leaving over REST ends the subscription the same way.
    add_member(&alice, &room, "bob").await;
    let mut b = bob.ws().await;
    b.join(&room, None, 2).await;
    let (status, body) = bob.post_empty(&format!("/api/rooms/{room}/leave")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        b.recv_type("removed").await,
        json!({"type": "removed", "room": room})
    );
    alice.post_message(&room, "after leaving").await;
    assert_eq!(
        a.recv_type("message").await["message"]["body"],
        "after leaving"
    );
    b.expect_silence(Duration::from_millis(100)).await;

    // The socket is out of the room: its frames get what a missing room gets.
    let send =
        |room: &str| json!({"type": "send", "room": room, "body": "still here?", "nonce": "x"});
    b.send_json(send(&room)).await;
    let refused = b.recv_type("error").await;
    b.send_json(send(MISSING_ROOM)).await;
    let missing = b.recv_type("error").await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    assert_eq!(refused, missing, "as if the room did not exist");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beginning_memberships_are_announced_to_every_connection_of_the_user() {
    let _shared = TIMED.read().await;
    let server = TestServer::start().await;
    let _admin = server.user("root").await;
    let alice = server.user("alice").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let room = create_room(&alice, "plans", "private").await;
    let room = room["id"].as_str().expect("id").to_string();
    let mut a = alice.ws().await;
    a.join(&room, None, 0).await;
    let mut c1 = carol.ws().await;
    let mut c2 = carol.ws().await;

    // Added by a member.
    let (status, member) = alice
        .put(&format!("/api/rooms/{room}/members/carol"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    assert_eq!(member["username"], "carol");
    assert_eq!(member["role"], "member");
    assert!(member["joined_at"].is_string(), "{member}");
    for ws in [&mut c1, &mut c2] {
        let added = ws.recv_type("added").await;
        assert_eq!(added["room"]["id"], room.as_str(), "{added}");
        assert_eq!(added["room"]["kind"], "private");
        assert_eq!(added["room"]["name"], "plans");
        assert_eq!(added["room"]["is_member"], true, "{added}");
        assert_eq!(added["room"]["role"], "member", "{added}");
        assert_eq!(added["room"]["member_count"], 2, "{added}");
    }
    let updated = a.recv_type("room_updated").await;
    assert_eq!(updated["room"]["id"], room.as_str());
    assert_eq!(updated["room"]["member_count"], 2, "{updated}");
    assert!(
        updated["room"].get("role").is_none(),
        "shared frame: {updated}"
    );

    // Already a member: 200, and no second `added`.
    let (status, again) = alice
        .put(&format!("/api/rooms/{room}/members/carol"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["username"], "carol");
    c1.expect_silence(Duration::from_millis(100)).await;
    let (joined, _) = c1.join(&room, None, 0).await;
    assert_eq!(joined["room"]["id"], room.as_str());

    // A DM created by someone else.
    let (status, dm) = dave.post("/api/dms", json!({"users": ["carol"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let added = c2.recv_type("added").await;
    assert_eq!(added["room"]["id"], dm["id"], "{added}");
    assert_eq!(added["room"]["kind"], "direct");
    assert_eq!(added["room"]["members"], json!(["carol", "dave"]));

    // Accepting an invite.
    let mut d = dave.ws().await;
    let (_, invite) = alice
        .post(&format!("/api/rooms/{room}/invites"), json!({}))
        .await;
    let code = invite["code"].as_str().expect("code");
    let (status, accepted) = dave
        .post_empty(&format!("/api/invites/{code}/accept"))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let added = d.recv_type("added").await;
    assert_eq!(added["room"]["id"], room.as_str(), "{added}");
    assert_eq!(added["room"]["role"], "member");

    // Joining a public room over REST.
    let lobby = create_room(&alice, "lobby", "public").await;
    let lobby = lobby["id"].as_str().expect("id");
    let (status, body) = dave.post_empty(&format!("/api/rooms/{lobby}/join")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["is_member"], true);
    assert_eq!(d.recv_type("added").await["room"]["id"], lobby);
    server.stop().await;
}

/// A crowd joining at once: subscribers hear the first new member count at once and then one
/// notice carrying the final count, not one frame per join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_count_changes_reach_subscribers_coalesced() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("crowd").await;
    let mut crowd = Vec::new();
    for n in 0..6 {
        crowd.push(server.user(&format!("joiner{n}")).await);
    }
    let mut a = alice.ws().await;
    a.join(&room, None, 0).await;

    let join_path = format!("/api/rooms/{room}/join");
    let joins = crowd.iter().map(|client| client.post_empty(&join_path));
    for (status, body) in futures_util::future::join_all(joins).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut counts = Vec::new();
    while counts.last() != Some(&json!(7)) {
        let updated = a.recv_type("room_updated").await;
        counts.push(updated["room"]["member_count"].clone());
    }
    assert!(
        counts.len() <= 3,
        "six joins in a burst sent {} notices: {counts:?}",
        counts.len()
    );
    // Nothing further: the last notice carried the final state.
    let quiet_for = Duration::from_millis(1_500);
    let deadline = tokio::time::Instant::now() + quiet_for;
    while let Ok(frame) = tokio::time::timeout_at(deadline, a.recv()).await {
        assert_ne!(frame["type"], "room_updated", "{frame}");
    }

    // A rename is not held back behind the count.
    let (status, _) = alice
        .patch(&format!("/api/rooms/{room}"), json!({"topic": "busy"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let updated = tokio::time::timeout(Duration::from_millis(500), a.recv_type("room_updated"))
        .await
        .expect("a topic change is sent at once");
    assert_eq!(updated["room"]["topic"], "busy");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Direct messages

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_rooms_are_one_per_set_of_people_and_fixed() {
    let _shared = TIMED.read().await;
    let server = TestServer::start().await;
    let admin = server.user("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;

    let (status, dm) = alice.post("/api/dms", json!({"users": ["bob"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let id = dm["id"].as_str().expect("id").to_string();
    assert_eq!(dm["kind"], "direct");
    assert_eq!(dm["name"], "");
    assert_eq!(dm["members"], json!(["alice", "bob"]));
    assert_eq!(dm["member_count"], 2);
    assert_eq!(dm["is_member"], true);
    for (caller, users) in [
        (&alice, json!(["bob"])),
        (&alice, json!(["bob", "alice"])),
        (&alice, json!(["alice", "bob"])),
        (&bob, json!(["alice"])),
        (&bob, json!(["alice", "bob"])),
    ] {
        let (status, same) = caller.post("/api/dms", json!({ "users": users })).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{users} by {}: {same}",
            caller.username
        );
        assert_eq!(same["id"], id.as_str(), "{users} by {}", caller.username);
    }

    // A group DM is another set, in any order.
    let (status, group) = alice
        .post("/api/dms", json!({"users": ["bob", "carol"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_ne!(group["id"], id.as_str());
    assert_eq!(group["members"], json!(["alice", "bob", "carol"]));
    let (status, same) = carol
        .post("/api/dms", json!({"users": ["bob", "alice"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["id"], group["id"]);

    // Fixed membership and no name.
    let path = format!("/api/rooms/{id}");
    for (status, body) in [
        alice
            .put(&format!("{path}/members/carol"), Value::Null)
            .await,
        alice.patch(&path, json!({"name": "renamed"})).await,
        alice.post(&format!("{path}/invites"), json!({})).await,
    ] {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "direct_room_fixed");
    }
    let (status, members) = bob.get(&format!("{path}/members")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        usernames(&members["members"]),
        ["alice", "bob"],
        "the creator first, oldest member first"
    );
    let (status, body) = carol.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Bad requests.
    for (users, expected, code) in [
        (json!(["alice"]), StatusCode::BAD_REQUEST, "dm_needs_others"),
        (json!([]), StatusCode::BAD_REQUEST, "dm_needs_others"),
        (
            json!(["bob", "nobody"]),
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
    ] {
        let (status, body) = alice.post("/api/dms", json!({ "users": users })).await;
        assert_eq!(status, expected, "{users}: {body}");
        assert_eq!(error_code(&body), code, "{users}");
    }
    let (status, body) = server
        .client()
        .post("/api/dms", json!({"users": ["bob"]}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // At most 8 people, the caller included.
    let mut peers = Vec::new();
    for i in 1..=8 {
        peers.push(server.user(&format!("peer{i}")).await.username);
    }
    let (status, body) = alice.post("/api/dms", json!({"users": peers[..7]})).await;
    assert_eq!(status, StatusCode::CREATED, "8 people: {body}");
    assert_eq!(body["member_count"], 8);
    let (status, body) = alice.post("/api/dms", json!({"users": peers})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "9 people: {body}");
    assert_eq!(error_code(&body), "dm_too_many");

    // Once everyone has left, the DM is gone and the same people get a new one.
    for who in [&alice, &bob] {
        let (status, body) = who.post_empty(&format!("{path}/leave")).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (status, body) = admin.get(&path).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "deleted with its last member: {body}"
    );
    let (status, fresh) = bob.post("/api/dms", json!({"users": ["alice"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_ne!(fresh["id"], id.as_str());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Invites

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_admit_until_used_up_expired_or_deleted() {
    let _shared = TIMED.read().await;
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let server = TestServer::start_with_clock(clock.clone(), |_| {}).await;
    let _admin = server.user("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let erin = server.user("erin").await;
    let room = create_room(&alice, "invite only", "private").await;
    let room = room["id"].as_str().expect("id").to_string();
    add_member(&alice, &room, "bob").await;
    let invites = format!("/api/rooms/{room}/invites");

    // Created by a plain member, with the defaults.
    let (status, invite) = bob.post(&invites, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let code = invite["code"].as_str().expect("code").to_string();
    assert!(code.len() >= 22, "at least 128 random bits: {code}");
    assert!(
        code.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "base64url: {code}"
    );
    let url = invite["url"].as_str().expect("url");
    assert!(url.ends_with(&format!("/#/invite/{code}")), "{url}");
    assert_eq!(invite["created_by"], "bob");
    assert_eq!(invite["uses"], 0);
    assert_eq!(invite["max_uses"], Value::Null, "unlimited by default");
    assert_eq!(
        time_ms(&invite["expires_at"]) - time_ms(&invite["created_at"]),
        604_800_000,
        "a week by default"
    );
    let (_, second) = bob.post(&invites, json!({})).await;
    assert_ne!(
        second["code"], invite["code"],
        "every invite has its own code"
    );

    // Accepted by a third user: a member now.
    let (status, accepted) = carol
        .post_empty(&format!("/api/invites/{code}/accept"))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["id"], room.as_str());
    assert_eq!(accepted["is_member"], true);
    assert_eq!(accepted["role"], "member");
    let (_, members) = alice.get(&format!("/api/rooms/{room}/members")).await;
    assert!(
        usernames(&members["members"]).contains(&"carol".to_string()),
        "{members}"
    );
    assert_eq!(
        carol.get(&format!("/api/rooms/{room}/messages")).await.0,
        StatusCode::OK
    );

    // One use only.
    let (status, single) = alice.post(&invites, json!({"max_uses": 1})).await;
    assert_eq!(status, StatusCode::CREATED, "{single}");
    assert_eq!(single["max_uses"], 1);
    let single_code = single["code"].as_str().expect("code");
    let accept = format!("/api/invites/{single_code}/accept");
    assert_eq!(dave.post_empty(&accept).await.0, StatusCode::OK);
    let (status, body) = erin.post_empty(&accept).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(error_code(&body), "invite_used_up");
    assert_eq!(
        erin.get(&format!("/api/rooms/{room}")).await.0,
        StatusCode::NOT_FOUND
    );

    // The list: uses counted, codes never shown again.
    let (status, list) = alice.get(&invites).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list["invites"].as_array().expect("invites").clone();
    assert_eq!(list.len(), 3, "{list:?}");
    for listed in &list {
        assert!(
            listed.get("code").is_none(),
            "no code in the list: {listed}"
        );
        assert!(listed.get("url").is_none(), "no url in the list: {listed}");
        assert!(!listed.to_string().contains(&code), "{listed}");
        for field in ["id", "expires_at", "created_by", "created_at", "uses"] {
            assert!(listed.get(field).is_some(), "{field} in {listed}");
        }
    }
    let used = list
        .iter()
        .find(|i| i["id"] == single["id"])
        .expect("listed");
    assert_eq!(used["uses"], 1);
    let first = list
        .iter()
        .find(|i| i["id"] == invite["id"])
        .expect("listed");
    assert_eq!(first["uses"], 1);

    // Expiry, on the server's clock: 60 s is the shortest.
    let (status, short) = alice.post(&invites, json!({"expires_in": 60})).await;
    assert_eq!(status, StatusCode::CREATED, "{short}");
    assert_eq!(
        time_ms(&short["expires_at"]) - time_ms(&short["created_at"]),
        60_000
    );
    let (_, longer) = alice
        .post(&invites, json!({"expires_in": 120, "max_uses": 10000}))
        .await;
    clock.advance_ms(61_000);
    let short_code = short["code"].as_str().expect("code");
    let (status, body) = erin
        .post_empty(&format!("/api/invites/{short_code}/accept"))
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(error_code(&body), "invite_expired");
    let longer_code = longer["code"].as_str().expect("code");
    let (status, body) = erin
        .post_empty(&format!("/api/invites/{longer_code}/accept"))
        .await;
    assert_eq!(status, StatusCode::OK, "not expired yet: {body}");

    // Deleted: the code no longer works.
    let (status, body) = bob
        .delete(&format!("{invites}/{}", invite["id"].as_str().expect("id")))
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "the creator deletes: {body}"
    );
    let (status, body) = dave
        .post_empty(&format!("/api/invites/{code}/accept"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "invite_not_found");
    let (status, body) = bob
        .delete(&format!("{invites}/{}", invite["id"].as_str().expect("id")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "invite_not_found");
    for unknown in ["x".repeat(32), "short".to_string()] {
        let (status, body) = erin
            .post_empty(&format!("/api/invites/{unknown}/accept"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(error_code(&body), "invite_not_found");
    }
    let (status, body) = server
        .client()
        .post_empty(&format!("/api/invites/{longer_code}/accept"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Validation.
    for bad in [
        json!({"expires_in": 10}),
        json!({"expires_in": 59}),
        json!({"expires_in": 2_592_001}),
        json!({"max_uses": 0}),
        json!({"max_uses": 10_001}),
    ] {
        let (status, body) = alice.post(&invites, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(error_code(&body), "bad_request", "{bad}");
    }
    let (status, body) = alice.post(&invites, json!({"expires_in": 2_592_000})).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "30 days is the longest: {body}"
    );

    // Not for public rooms.
    let lobby = create_room(&alice, "lobby", "public").await;
    let (status, body) = alice
        .post(
            &format!("/api/rooms/{}/invites", lobby["id"].as_str().expect("id")),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invite_public_room");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Roles

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_passes_to_the_longest_standing_member_and_the_last_one_out_closes_the_room() {
    let _shared = TIMED.read().await;
    let server = TestServer::start().await;
    let admin = server.user("root").await;
    let alice = server.user("alice").await;
    let zed = server.user("zed").await;
    let bob = server.user("bob").await;
    let room = create_room(&alice, "crew", "private").await;
    assert_eq!(room["role"], "owner", "the creator owns the room: {room}");
    assert_eq!(room["member_count"], 1);
    let room = room["id"].as_str().expect("id").to_string();
    let members_path = format!("/api/rooms/{room}/members");
    // zed joins before bob: seniority, not the alphabet, decides.
    add_member(&alice, &room, "zed").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    add_member(&alice, &room, "bob").await;
    let (_, members) = admin.get(&members_path).await;
    assert_eq!(
        member_roles(&members),
        roles(&[("alice", "owner"), ("zed", "member"), ("bob", "member")]),
        "oldest member first"
    );
    let joined: Vec<i64> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| time_ms(&m["joined_at"]))
        .collect();
    assert!(joined.windows(2).all(|w| w[0] <= w[1]), "{joined:?}");

    // Role changes: owners and admins only.
    let (status, body) = zed
        .put(&format!("{members_path}/bob"), json!({"role": "owner"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    let (status, body) = zed.delete(&format!("{members_path}/bob")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a member removes no one else: {body}"
    );

    // The owner leaves: zed, the longest-standing, owns the room now.
    let (status, body) = alice.post_empty(&format!("/api/rooms/{room}/leave")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, members) = admin.get(&members_path).await;
    assert_eq!(
        member_roles(&members),
        roles(&[("zed", "owner"), ("bob", "member")])
    );
    let (_, seen) = zed.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(seen["role"], "owner");
    assert_eq!(seen["member_count"], 2);

    // The last owner cannot remove themself (leaving is the way out); a member cannot remove them.
    let (status, body) = zed.delete(&format!("{members_path}/zed")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "last_owner");
    let (status, body) = bob.delete(&format!("{members_path}/zed")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // With a second owner, the first may go.
    let (status, promoted) = zed
        .put(&format!("{members_path}/bob"), json!({"role": "owner"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    assert_eq!(promoted["role"], "owner");
    let (status, demoted) = zed
        .put(&format!("{members_path}/bob"), json!({"role": "member"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{demoted}");
    assert_eq!(demoted["role"], "member");

    // An admin removing the owner passes ownership on.
    let (status, body) = admin.delete(&format!("{members_path}/zed")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, members) = admin.get(&members_path).await;
    assert_eq!(member_roles(&members), roles(&[("bob", "owner")]));

    // The last member leaves a private room: it is gone, for the admin too.
    let mut watcher = bob.ws().await;
    watcher.join(&room, None, 0).await;
    let (status, body) = bob.post_empty(&format!("/api/rooms/{room}/leave")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for client in [&admin, &alice, &bob, &zed] {
        let (status, body) = client.get(&format!("/api/rooms/{room}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}: {body}", client.username);
        assert_eq!(error_code(&body), "not_found");
        let (_, list) = client.get("/api/rooms").await;
        assert!(!room_ids(&list).contains(&room), "{list}");
    }
    assert_eq!(admin.get(&members_path).await.0, StatusCode::NOT_FOUND);
    let frame = loop {
        let frame = watcher.recv().await;
        if ["removed", "room_deleted"].contains(&frame["type"].as_str().unwrap_or_default()) {
            break frame;
        }
    };
    assert!(
        ["removed", "room_deleted"].contains(&frame["type"].as_str().unwrap_or_default())
            && frame["room"] == room.as_str(),
        "the last member's socket is told: {frame}"
    );

    // A public room outlives its last member.
    let lobby = create_room(&alice, "lobby", "public").await;
    let lobby = lobby["id"].as_str().expect("id");
    let (status, body) = alice.post_empty(&format!("/api/rooms/{lobby}/leave")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = bob.get(&format!("/api/rooms/{lobby}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["member_count"], 0);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// User search

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_found_by_prefix_with_a_limit_and_nothing_but_their_names() {
    let _shared = TIMED.read().await;
    let server = TestServer::start().await;
    let _admin = server.user("root").await;
    for name in ["alvin", "alice", "albert", "alfred"] {
        server.user(name).await;
    }
    let bob = server.user("bob").await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("q=al", vec!["albert", "alfred", "alice", "alvin"]),
        ("q=al&limit=2", vec!["albert", "alfred"]),
        ("q=alf", vec!["alfred"]),
        ("q=alice", vec!["alice"]),
        ("q=zz", vec![]),
        ("q=al&limit=50", vec!["albert", "alfred", "alice", "alvin"]),
        ("q=&limit=1", vec!["albert"]),
        ("limit=3", vec!["albert", "alfred", "alice"]),
        (
            "",
            vec!["albert", "alfred", "alice", "alvin", "bob", "root"],
        ),
    ];
    for (query, expected) in cases {
        let (status, body) = bob.get(&format!("/api/users?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(usernames(&body["users"]), expected, "{query}: {body}");
        for user in body["users"].as_array().expect("users") {
            let fields = user.as_object().expect("object");
            assert!(
                fields.len() == 1 && fields["username"].is_string(),
                "only the name: {user}"
            );
        }
    }
    for query in ["limit=0", "limit=51", "limit=x"] {
        let (status, body) = bob.get(&format!("/api/users?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        error_code(&body);
    }
    let (status, _) = server.client().get("/api/users?q=al").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Bad input and names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_topics_unknown_users_and_names_are_checked() {
    let _shared = TIMED.read().await;
    let server = TestServer::start().await;
    let _admin = server.user("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // Kinds.
    let (status, body) = alice
        .post("/api/rooms", json!({"name": "dm?", "kind": "direct"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_kind");
    let (status, body) = alice
        .post("/api/rooms", json!({"name": "odd", "kind": "bogus"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);
    let (status, plain) = alice.post("/api/rooms", json!({"name": "plain"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(plain["kind"], "public", "public by default");
    assert_eq!(plain["topic"], "");
    assert_eq!(plain["is_member"], true);
    assert_eq!(plain["member_count"], 1);

    // Topics: at most 256 characters.
    let (status, body) = alice
        .post(
            "/api/rooms",
            json!({"name": "talky", "topic": "t".repeat(257)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_topic");
    let (status, room) = alice
        .post(
            "/api/rooms",
            json!({"name": "talky", "kind": "private", "topic": "é".repeat(256)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["topic"], "é".repeat(256));
    let talky = room["id"].as_str().expect("id").to_string();
    let (status, body) = alice
        .patch(
            &format!("/api/rooms/{talky}"),
            json!({"topic": "x".repeat(257)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_topic");
    let (status, body) = alice
        .patch(&format!("/api/rooms/{talky}"), json!({"name": "  "}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_room_name");
    let (status, patched) = alice
        .patch(
            &format!("/api/rooms/{talky}"),
            json!({"name": "chatty", "topic": "news"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        (patched["name"].as_str(), patched["topic"].as_str()),
        (Some("chatty"), Some("news"))
    );

    // Unknown users.
    let (status, body) = alice
        .put(&format!("/api/rooms/{talky}/members/nobody"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "user_not_found");
    let (status, body) = alice
        .delete(&format!("/api/rooms/{talky}/members/nobody"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = alice
        .delete(&format!("/api/rooms/{talky}/members/bob"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "not_member");
    let (status, body) = alice
        .put(
            &format!("/api/rooms/{talky}/members/bob"),
            json!({"role": "king"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    error_code(&body);

    // Names are unique among public rooms only.
    let first = create_room(&alice, "secret", "private").await;
    let second = create_room(&bob, "Secret", "private").await;
    assert_ne!(first["id"], second["id"]);
    let public = create_room(&bob, "secret", "public").await;
    assert_eq!(public["kind"], "public");
    let (status, body) = alice.post("/api/rooms", json!({"name": "SECRET"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "room_name_taken");
    let (status, body) = alice
        .post("/api/rooms", json!({"name": "plain", "kind": "private"}))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a private room may share a public one's name: {body}"
    );
    // Renaming into a public name is a conflict for a public room only.
    let (status, body) = alice
        .patch(
            &format!("/api/rooms/{}", plain["id"].as_str().expect("id")),
            json!({"name": "Secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "room_name_taken");
    let (status, body) = alice
        .patch(&format!("/api/rooms/{talky}"), json!({"name": "plain"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn create_room(client: &Client, name: &str, kind: &str) -> Value {
    let (status, room) = client
        .post("/api/rooms", json!({"name": name, "kind": kind}))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "create {kind} room {name}: {room}"
    );
    assert_eq!(room["kind"], kind);
    assert_eq!(room["role"], "owner");
    room
}

async fn add_member(owner: &Client, room: &str, username: &str) {
    let (status, body) = owner
        .put(
            &format!("/api/rooms/{room}/members/{username}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "add {username}: {body}");
}

fn room_ids(list: &Value) -> Vec<String> {
    list["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

fn usernames(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_string())
        .collect()
}

/// `(username, role)` of a `{"members":[...]}` answer, in its order.
fn member_roles(body: &Value) -> Vec<(String, String)> {
    body["members"]
        .as_array()
        .unwrap_or_else(|| panic!("members: {body}"))
        .iter()
        .map(|m| {
            (
                m["username"].as_str().expect("username").to_string(),
                m["role"].as_str().expect("role").to_string(),
            )
        })
        .collect()
}

fn roles(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(u, r)| (u.to_string(), r.to_string()))
        .collect()
}

fn time_ms(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or_else(|| panic!("a time: {value}"));
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    (parsed.unix_timestamp_nanos() / 1_000_000) as i64
}
