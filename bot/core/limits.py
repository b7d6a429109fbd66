"""Every limit and default the bot enforces, named once.

Settings (``bot.config``) take their defaults from here; commands, validation, rendering and
delivery read the same names, so a number changes in one place.
"""

from __future__ import annotations

from typing import Final

from bot.oxen import DEFAULT_DOWNLOAD_MAX_BYTES, DEFAULT_DOWNLOAD_TIMEOUT, MAX_NUM_GENERATIONS

MIB: Final = 1024 * 1024

# --- what a request may ask for -----------------------------------------------------------------
PROMPT_MAX_CHARS: Final = 1500
NEGATIVE_PROMPT_MAX_CHARS: Final = 1000
EDIT_INSTRUCTION_MAX_CHARS: Final = 1000
ASPECT_RATIO_MAX_CHARS: Final = 20
MAX_IMAGES_PER_REQUEST: Final = MAX_NUM_GENERATIONS  # Oxen's own limit per enqueue
MAX_SEED: Final = 4_294_967_295
MAX_STEPS: Final = 500
MAX_EDIT_INPUT_BYTES: Final = 20 * MIB  # Oxen documents none; larger uploads are slow to fetch

# --- the bot's defaults (each one an environment setting, see bot.config) -------------------------
DEFAULT_MODEL: Final = "black-forest-labs-flux-2-klein-4b"
DEFAULT_EDIT_MODEL: Final = "qwen-image-edit"
DEFAULT_POLL_INTERVAL_SECONDS: Final = 2.0
DEFAULT_MAX_GENERATION_AGE_SECONDS: Final = 15 * 60.0
DEFAULT_MAX_DOWNLOAD_BYTES: Final = DEFAULT_DOWNLOAD_MAX_BYTES  # the Oxen client's own
DEFAULT_DOWNLOAD_TIMEOUT_SECONDS: Final = DEFAULT_DOWNLOAD_TIMEOUT
DEFAULT_SHUTDOWN_GRACE_SECONDS: Final = 20.0  # inside compose's 30 s stop_grace_period
DEFAULT_JOB_RETENTION_DAYS: Final = 90
DEFAULT_STATUS_EDIT_INTERVAL_SECONDS: Final = 3.0  # pacing per message, within Discord's
# A process's claim on a job it is checking or delivering, renewed while it works; one that dies
# loses its jobs to the others this long after its last renewal.
DEFAULT_LEASE_SECONDS: Final = 30.0
# At start, how long to wait for a PostgreSQL that is not up yet (started with the bot).
DEFAULT_DATABASE_WAIT_SECONDS: Final = 60.0
# PostgreSQL connections per bot process (its server's max_connections bounds processes x this).
DEFAULT_DATABASE_POOL_SIZE: Final = 10
MIN_DATABASE_POOL_SIZE: Final = 2  # a transaction, and a statement beside it
MIN_LEASE_SECONDS: Final = 1.0

# --- Discord's numbers the bot plans around -------------------------------------------------------
DISCORD_DEFAULT_UPLOAD_BYTES: Final = 10 * MIB  # a server without boosts
DISCORD_IDENTIFY_SPACING_SECONDS: Final = 5.0  # one IDENTIFY per max_concurrency bucket per 5 s
DISCORD_COMPONENTS_PER_MESSAGE: Final = 25
DISCORD_MAX_ATTACHMENTS: Final = 10  # per message (and at most 10 embeds)
DISCORD_EMBEDS_TOTAL_CHARS: Final = 6000  # every embed of one message together
DISCORD_CONTENT_CHARS: Final = 2000
DISCORD_MAX_REQUEST_BYTES: Final = 25 * MIB  # one request, every file together
# A channel's buckets (message creates; edits) until Discord's headers say otherwise: about 5
# per 5 s per channel (shared/discord-notes.md, section 4).
DISCORD_CHANNEL_BUCKET_LIMIT: Final = 5
DISCORD_CHANNEL_BUCKET_SECONDS: Final = 5.0
# Follow-ups count against about 30 per minute per channel: the bot keeps under it.
DISCORD_FOLLOWUPS_PER_CHANNEL: Final = 25
DISCORD_FOLLOWUP_WINDOW_SECONDS: Final = 60.0
DISCORD_TOKEN_SAFE_SECONDS: Final = 14 * 60.0  # an interaction token is used only this long (15)

# --- the per-channel outbox (bot.discord_app.outbox) ----------------------------------------------
# An intermediate status edit waits at most this long for a saturated channel, then is dropped
# (a newer one, and the final one, still go).
STATUS_EDIT_MAX_WAIT_SECONDS: Final = 10.0
OUTBOX_MAX_WAITING_POSTS: Final = 100  # per channel; beyond it a delivery waits before composing
OUTBOX_FOLLOWUPS_IN_FLIGHT: Final = 2  # per channel
OUTBOX_IDLE_SECONDS: Final = 30.0  # a channel's worker stops after this long with nothing to do

# --- moderation ---------------------------------------------------------------------------------
MAX_BANNED_TERMS: Final = 500  # per list; every prompt is checked against all of them
MAX_BANNED_PATTERN_CHARS: Final = 200

# --- background work -----------------------------------------------------------------------------
MAX_CONCURRENT_DELIVERIES: Final = 8
MAX_DELIVERY_ATTEMPTS: Final = 8
PRUNE_BATCH: Final = 500  # finished jobs deleted per idle pass, so a prune never stalls the store

# --- health ---------------------------------------------------------------------------------------
# /readyz: Oxen must have answered within this long (or its event stream be open now).
READINESS_OXEN_WINDOW_SECONDS: Final = 300.0

# --- the server gallery -------------------------------------------------------------------------
GALLERY_TITLE_MAX_CHARS: Final = 100  # a forum post's name (Discord's limit)
GALLERY_LIST_LIMIT: Final = 10  # shares per /gallery answer and per weekly post
MAX_AUTO_SHARE_VOTES: Final = 1000
VOTE_LABEL_MIN_GAP_SECONDS: Final = 2.0  # a vote count's label is edited at most this often
DEFAULT_WEEKLY_CHECK_SECONDS: Final = 60.0  # how often the weekly post checks whether it is due
LINEAGE_DEPTH: Final = 5  # ancestors shown for a remix
SEARCH_MAX_TERMS: Final = 8
SEARCH_TERM_MAX_CHARS: Final = 40
THUMBNAIL_PIXELS: Final = 160  # the longer side of a stored thumbnail, for the /gallery grid
MAX_CREATED_TAGS: Final = 5  # tags the bot adds to a gallery when asked ("a few")
DISCORD_MAX_FORUM_TAGS: Final = 20
DISCORD_MAX_APPLIED_TAGS: Final = 5
DISCORD_TAG_NAME_MAX_CHARS: Final = 20

# --- the web gallery (one read-only page per server that turned it on) ---------------------------
WEB_GALLERY_PAGE_SIZE: Final = 48  # images per page of the grid
WEB_GALLERY_MAX_PAGES: Final = 100  # pages of any one list (older images: search or narrow)
WEB_THUMBNAIL_PIXELS: Final = 384  # the longer side of a stored WebP thumbnail
WEB_GALLERY_TOKEN_BYTES: Final = 32  # a link's random part: secrets.token_urlsafe(32), 43 chars
DEFAULT_GALLERY_RATE_PER_MINUTE: Final = 600  # requests per address (a grid page is about 50)
