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

# --- Discord's numbers the bot plans around -------------------------------------------------------
DISCORD_DEFAULT_UPLOAD_BYTES: Final = 10 * MIB  # a server without boosts
DISCORD_COMPONENTS_PER_MESSAGE: Final = 25

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
VOTE_LABEL_MAX_DELAY_SECONDS: Final = 5.0  # and within this long of the last press
DEFAULT_WEEKLY_CHECK_SECONDS: Final = 60.0  # how often the weekly post checks whether it is due
LINEAGE_DEPTH: Final = 5  # ancestors shown for a remix
SEARCH_MAX_TERMS: Final = 8
SEARCH_TERM_MAX_CHARS: Final = 40
THUMBNAIL_PIXELS: Final = 160  # the longer side of a stored thumbnail, for the /gallery grid
MAX_CREATED_TAGS: Final = 5  # tags the bot adds to a gallery when asked ("a few")
DISCORD_MAX_FORUM_TAGS: Final = 20
DISCORD_MAX_APPLIED_TAGS: Final = 5
DISCORD_TAG_NAME_MAX_CHARS: Final = 20
