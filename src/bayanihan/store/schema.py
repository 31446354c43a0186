"""Tables of a node's database.

Timestamps are integers (microseconds since the Unix epoch) so that ordering is
exact on every backend. ``objects.date_added`` is the primary key: strictly
increasing per node, never reused, and the TAXII paging cursor.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# SQLite makes a column declared exactly INTEGER PRIMARY KEY the rowid: range scans on
# date_added then walk the table itself, the fastest path SQLite has.
_BIGINT_KEY = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

node = Table(
    "node",
    metadata,
    Column("row_id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("country", String(2), nullable=False),
    Column("identity_id", Text, nullable=False),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("created", BigInteger, nullable=False),
)

orgs = Table(
    "orgs",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("identity_id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False, unique=True),
    Column("country", String(2), nullable=False),
    Column("sector", Text),
    Column("parent_row", Integer, ForeignKey("orgs.row_id")),
    Column("local", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
)

# People who log in: users of an organisation, with argon2 password hashes. Each has
# an `identity` id (class individual) so that TLP:RED objects can name them.
users = Table(
    "users",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("identity_id", Text, nullable=False, unique=True),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("disabled", BigInteger),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("user_row", Integer, ForeignKey("users.row_id")),
    Column("role", String(16), nullable=False),
    Column("label", Text),
    Column("created", BigInteger, nullable=False),
    Column("revoked", BigInteger),
)

api_roots = Table(
    "api_roots",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("path", String(64), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("description", Text),
)

collections = Table(
    "collections",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("api_root_row", Integer, ForeignKey("api_roots.row_id"), nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text),
    # "all": every object the reader may see; "own": only objects written into it
    Column("scope", String(16), nullable=False),
    Column("is_default", Boolean, nullable=False),
)

# A distinct set of organisations that may see an object. Objects point at one;
# NULL means the whole community (TLP:CLEAR and TLP:GREEN).
audiences = Table(
    "audiences",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("members_key", Text, nullable=False, unique=True),
)

audience_members = Table(
    "audience_members",
    metadata,
    Column("audience_row", Integer, ForeignKey("audiences.row_id"), primary_key=True),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), primary_key=True),
    Index("ix_audience_members_org", "org_row", "audience_row"),
)

# TLP:RED objects that name people: their audience is those users (and the author org).
audience_users = Table(
    "audience_users",
    metadata,
    Column("audience_row", Integer, ForeignKey("audiences.row_id"), primary_key=True),
    Column("user_row", Integer, ForeignKey("users.row_id"), primary_key=True),
    Index("ix_audience_users_user", "user_row", "audience_row"),
)

# Named sets of organisations across nodes. The same group has the same id on every node.
sharing_groups = Table(
    "sharing_groups",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    # names are unique per owner: a node-wide rule would tell others a name is taken
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("owner_org", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint("owner_org", "name"),
)

sharing_group_members = Table(
    "sharing_group_members",
    metadata,
    Column("group_row", Integer, ForeignKey("sharing_groups.row_id"), primary_key=True),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), primary_key=True),
    Index("ix_sharing_group_members_org", "org_row", "group_row"),
)

objects = Table(
    "objects",
    metadata,
    Column("date_added", _BIGINT_KEY, primary_key=True, autoincrement=False),
    Column("id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("spec_version", String(8), nullable=False),
    # version = modified, else created, else 0 (SCOs carry neither)
    Column("version", BigInteger, nullable=False),
    Column("created", BigInteger),
    Column("created_by_ref", Text),
    Column("author_org", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("tlp", String(16), nullable=False),
    Column("markings", Text),
    Column("confidence", Integer),
    Column("valid_until", BigInteger),
    Column("origin", Text, nullable=False),
    Column("audience", Integer, ForeignKey("audiences.row_id")),
    Column("collection_row", Integer, ForeignKey("collections.row_id"), nullable=False),
    Column("is_latest", Boolean, nullable=False),
    Column("is_first", Boolean, nullable=False),
    Column("name", Text),
    Column("description", Text),
    Column("body", LargeBinary, nullable=False),
    UniqueConstraint("id", "author_org", "version"),
    Index("ix_objects_type_date_added", "type", "date_added"),
    Index(
        "ix_objects_community",
        "date_added",
        sqlite_where=text("audience IS NULL"),
        postgresql_where=text("audience IS NULL"),
    ),
)

# Who may read each object version that is not for the whole community: one row per
# organisation (and per named person) of its audience. A reader's page is then an
# index range scan, not a filter over everything the community shares.
object_readers = Table(
    "object_readers",
    metadata,
    Column("org_row", Integer, primary_key=True),
    Column(
        "date_added",
        BigInteger,
        ForeignKey("objects.date_added", ondelete="CASCADE"),
        primary_key=True,
    ),
)

object_user_readers = Table(
    "object_user_readers",
    metadata,
    Column("user_row", Integer, primary_key=True),
    Column(
        "date_added",
        BigInteger,
        ForeignKey("objects.date_added", ondelete="CASCADE"),
        primary_key=True,
    ),
)

# The sharing groups an object version names: when a group's members change, the
# audiences of these versions are decided again.
object_groups = Table(
    "object_groups",
    metadata,
    Column(
        "date_added",
        BigInteger,
        ForeignKey("objects.date_added", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("group_id", Text, primary_key=True),
    Index("ix_object_groups_group", "group_id", "date_added"),
)

# The objects a relationship or sighting points at: it is visible only when they are.
object_refs = Table(
    "object_refs",
    metadata,
    Column(
        "date_added",
        BigInteger,
        ForeignKey("objects.date_added", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ref_id", Text, primary_key=True),
)

# The node's monotonic counters (the date_added clock).
counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

statuses = Table(
    "statuses",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("api_root_row", Integer, ForeignKey("api_roots.row_id"), nullable=False),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("request_timestamp", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("total_count", Integer, nullable=False),
    Column("success_count", Integer, nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("pending_count", Integer, nullable=False),
    Column("details", LargeBinary, nullable=False),
)

# Append-only, hash-chained record of who read and changed what (one entry per request).
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", BigInteger, nullable=False),
    Column("key_row", Integer),
    Column("org_row", Integer),
    Column("user_row", Integer),
    Column("action", Text, nullable=False),
    Column("object_ids", Text, nullable=False),
    Column("remote", Text),
    Column("detail", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# Node-wide switches set by the administrator (e.g. the public collection).
node_options = Table(
    "node_options",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Objects deleted at this node, so that peers can be told.
tombstones = Table(
    "tombstones",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False),
    Column("versions", Text, nullable=False),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("deleted", BigInteger, nullable=False),
)

# Correlation: each distinct observable (kind, normalised value) once, with postings to
# the object versions that carry it — never a table of pairs of objects.
observables = Table(
    "observables",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("value", Text, nullable=False),
    # why the value could not be normalised (kept raw); NULL when it was
    Column("problem", Text),
    # registered domain of a domain, URL or e-mail: a weaker "related" link
    Column("related", Text),
    # fixed-width hex bounds of an IP address or network, for containment scans
    Column("ip_start", String(32)),
    Column("ip_end", String(32)),
    # the warning-list that names the value as known-benign, when one does
    Column("warning", Text),
    # how many current (latest, unrevoked) object versions carry it
    Column("objects", Integer, nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    UniqueConstraint("kind", "value"),
    # the related-domain lookup reads a range of it in row order (no sort, no scan)
    Index(
        "ix_observables_related",
        "related",
        "row_id",
        sqlite_where=text("related IS NOT NULL"),
        postgresql_where=text("related IS NOT NULL"),
    ),
    Index(
        "ix_observables_ip",
        "kind",
        "ip_start",
        sqlite_where=text("ip_start IS NOT NULL"),
        postgresql_where=text("ip_start IS NOT NULL"),
    ),
    # counts change with every write: room in each page keeps the updates in place
    postgresql_with={"fillfactor": 70},
)

# The prefix lengths of the networks indexed, per family: an address's containing
# networks are then found by probing only these lengths.
ip_prefixes = Table(
    "ip_prefixes",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("prefix", Integer, primary_key=True),
)

# Which current object versions carry which observable. Keyed by the version first:
# versions are written in date_added order, so the key grows at its end; the author
# depends on the version alone, and being in the key it is in the index by observable
# too, which then answers a hit query by itself (see migration 0014).
postings = Table(
    "postings",
    metadata,
    Column(
        "date_added",
        BigInteger,
        ForeignKey("objects.date_added", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "observable_row",
        Integer,
        ForeignKey("observables.row_id"),
        primary_key=True,
    ),
    # the version's author (objects.author_org of the same row, which never changes):
    # hits are found from postings alone, without a lookup into the objects table
    Column("author_org", Integer, primary_key=True),
    Index("ix_postings_observable_row", "observable_row"),
    sqlite_with_rowid=False,
)

# A hit: an object version of one organisation shares an observable (exactly, or by
# CIDR containment) with a current version of another organisation's object.
hits = Table(
    "hits",
    metadata,
    Column("row_id", _BIGINT_KEY, primary_key=True, autoincrement=True),
    Column("detected", BigInteger, nullable=False),
    Column("match", String(8), nullable=False),  # "exact" | "cidr"
    # Derived rows, written only by the correlation layer from postings of the same
    # transaction and dropped before the versions they name: no foreign keys, whose
    # checks (six per row) took three quarters of the time of recording hits.
    Column("observable_row", Integer, nullable=False),
    Column("date_added", BigInteger, nullable=False),
    Column("org_row", Integer, nullable=False),
    Column("counterpart_observable_row", Integer, nullable=False),
    Column("counterpart_date_added", BigInteger, nullable=False),
    Column("counterpart_org_row", Integer, nullable=False),
    Column("cross_border", Boolean, nullable=False),
    Index("ix_hits_org", "org_row", "row_id"),
    Index("ix_hits_counterpart_org", "counterpart_org_row", "row_id"),
    Index("ix_hits_date_added", "date_added"),
    Index("ix_hits_counterpart_date_added", "counterpart_date_added"),
    # row ids are the "new since" cursor and name hits in the outbox: never reused
    sqlite_autoincrement=True,
)

# Where an organisation wants its hit alerts: a signed webhook or an e-mail address.
alert_channels = Table(
    "alert_channels",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), nullable=False),
    Column("kind", String(16), nullable=False),  # "webhook" | "email"
    Column("target", Text, nullable=False),
    # HMAC key of a webhook (needed in clear to sign); NULL for e-mail
    Column("secret", Text),
    Column("created", BigInteger, nullable=False),
    Column("disabled", BigInteger),
    UniqueConstraint("org_row", "kind", "target"),
)

# The alert outbox: one row per (hit, channel), retried with back-off until sent.
deliveries = Table(
    "deliveries",
    metadata,
    Column("row_id", _BIGINT_KEY, primary_key=True, autoincrement=True),
    Column("channel_row", Integer, ForeignKey("alert_channels.row_id"), nullable=False),
    Column("hit_row", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # pending | sent | failed | dropped
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("last_error", Text),
    Column("sent", BigInteger),
    UniqueConstraint("hit_row", "channel_row"),
    Index("ix_deliveries_due", "state", "next_attempt"),
    sqlite_autoincrement=True,
)

# Peer nodes this node pulls from: a TAXII 2.1 discovery URL and our credentials there
# (kept in clear: they are sent to the peer; the database is the node's secret store).
peers = Table(
    "peers",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("auth", String(8), nullable=False),  # "key" | "basic"
    Column("username", Text),
    Column("secret", Text, nullable=False),
    Column("ca_file", Text),
    # our certificate for a peer requiring mutual TLS (paths; the key may be in the cert)
    Column("client_cert", Text),
    Column("client_key", Text),
    # the operator's cap on what leaves towards it, pushed or read by its sync key here
    # (JSON lists; NULL: no cap): TLP labels, and the sharing group ids whose objects may
    # go ([]: none)
    Column("outbound_tlp", Text),
    Column("outbound_groups", Text),
    Column("allow_insecure", Boolean, nullable=False),
    # the peer's node identity (identity_class system), pinned on the first pull
    Column("node_identity", Text),
    Column("node_org_row", Integer, ForeignKey("orgs.row_id")),
    Column("created", BigInteger, nullable=False),
    Column("last_attempt", BigInteger),
    Column("last_success", BigInteger),
    Column("last_error", Text),
    Column("pulled", BigInteger, nullable=False),
)

# Where the last pull of each of a peer's collections stopped (X-TAXII-Date-Added-Last),
# written in the transaction of the page it ends.
peer_cursors = Table(
    "peer_cursors",
    metadata,
    Column("peer_row", Integer, ForeignKey("peers.row_id", ondelete="CASCADE"), primary_key=True),
    Column("collection_id", Text, primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("cursor_micros", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

# The organisations a peer hosts (learned from its published identities): it may write
# as them, at any TLP. An organisation is hosted by one peer at most.
peer_orgs = Table(
    "peer_orgs",
    metadata,
    Column("peer_row", Integer, ForeignKey("peers.row_id", ondelete="CASCADE"), nullable=False),
    Column("org_row", Integer, ForeignKey("orgs.row_id"), primary_key=True),
    Index("ix_peer_orgs_peer_row", "peer_row"),
)

# Push state per peer: how far the outbox has been filled (the last objects.date_added
# considered), the writable collection pushed to (None: the peer's first with can_write),
# and how the last push round went.
peer_push = Table(
    "peer_push",
    metadata,
    Column("peer_row", Integer, ForeignKey("peers.row_id", ondelete="CASCADE"), primary_key=True),
    Column("cursor", BigInteger, nullable=False),
    Column("collection_id", Text),
    Column("last_attempt", BigInteger),
    Column("last_success", BigInteger),
    Column("last_error", Text),
    Column("pushed", BigInteger, nullable=False),
)

# The push outbox: one row per (peer, object version) to send, filled in the transaction
# that moves the peer's push cursor, retried with back-off until the peer's status says
# how it went. No foreign key to objects: a version deleted here drops its entry.
# Entries are kept once finished: they are the record of what was sent to the peer, by
# which a pull knows our own objects coming back when they name no author (SCOs).
peer_outbox = Table(
    "peer_outbox",
    metadata,
    Column("row_id", _BIGINT_KEY, primary_key=True, autoincrement=True),
    Column("peer_row", Integer, ForeignKey("peers.row_id", ondelete="CASCADE"), nullable=False),
    Column("date_added", BigInteger, nullable=False),
    Column("object_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    # pending | sent (waiting on the peer's status) | done | failed | dropped
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("last_error", Text),
    Column("status_id", Text),
    Column("finished", BigInteger),
    UniqueConstraint("peer_row", "date_added"),
    Index("ix_peer_outbox_due", "peer_row", "state", "next_attempt"),
    Index("ix_peer_outbox_object", "peer_row", "object_id"),
    sqlite_autoincrement=True,
)
