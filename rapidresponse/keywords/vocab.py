"""The words people text, per language, as data.

Every phrase is written in its normalized form (upper case, no accents; see `parser.normalize`).
A phrase may have several words ("ON MY WAY"). Adding a language means adding an entry to each table
below; a phrase listed under more than one language, or under NEUTRAL, gives no language hint.

The keys of `VOCABULARY` are the `Action` values, kept as plain strings so this module stays data.
"""

from __future__ import annotations

from collections.abc import Mapping

# Words anyone may use whatever their language: no language hint is drawn from them.
NEUTRAL = "neutral"

VOCABULARY: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    NEUTRAL: {
        # Carrier keywords: members are told to use STOP/START whatever their language.
        "stop": ("STOP",),
        "start": ("START",),
        "help": ("INFO",),
        "ack": ("1",),
        "decline": ("NO", "2"),
    },
    "en": {
        "join": ("JOIN",),
        "yes": ("YES", "Y", "YEP", "YEAH"),
        "start": ("UNSTOP",),
        "stop": ("STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
        "help": ("HELP",),
        "language": ("LANG", "LANGUAGE"),
        "zone": ("ZONE",),
        "report": ("REPORT",),
        "ack": ("OMW", "ON MY WAY", "GOING", "COMING"),
        "decline": ("CANT", "CAN'T", "CANNOT"),
        "confirm": ("CONFIRM", "CONFIRMED"),
        "false_alarm": ("FALSE", "FALSE ALARM"),
        "resolve": ("RESOLVE", "RESOLVED"),
        "call_me": ("CALL ME", "CALL ME TOO"),
        "text_me": ("TEXT ME", "TEXT ONLY", "NO CALLS"),
        "pause": ("PAUSE",),
        "back": ("BACK", "I'M BACK", "IM BACK", "UNPAUSE", "RESUME"),
        "hours": ("HOURS",),
        "drill": ("DRILL",),
        # Call-in campaigns (campaigns/): join one, be bridged to its target, report a call.
        "campaign_join": ("ACTION",),
        "campaign_call": ("CALL",),
        "campaign_done": ("DONE", "CALLED"),
    },
    "es": {
        "join": ("UNIRSE", "UNIRME"),
        "yes": ("SI", "S"),
        "stop": ("PARAR", "ALTO"),
        "help": ("AYUDA",),
        "language": ("IDIOMA",),
        "zone": ("ZONA",),
        "report": ("REPORTAR", "REPORTE"),
        "ack": ("VOY", "EN CAMINO", "VOY EN CAMINO"),
        "decline": ("NO PUEDO",),
        "confirm": ("CONFIRMAR", "CONFIRMADO", "CONFIRMO"),
        "false_alarm": ("FALSA", "FALSO", "FALSA ALARMA"),
        "resolve": ("RESUELTO", "RESOLVER"),
        "call_me": ("LLAMAME", "LLAMENME", "LLAMADA"),
        "text_me": ("TEXTO", "SOLO TEXTO", "SIN LLAMADAS"),
        "pause": ("PAUSA", "PAUSAR"),
        "back": ("VUELVO", "VOLVI", "YA VOLVI", "REGRESO", "YA REGRESE"),
        "hours": ("HORAS", "HORARIO"),
        "drill": ("SIMULACRO",),
        "campaign_join": ("ACCION",),
        "campaign_call": ("LLAMAR",),
        "campaign_done": ("HECHO", "LLAME"),
    },
}

# What may follow DONE / HECHO: how a campaign call went (campaigns.models.Outcome values).
CAMPAIGN_OUTCOMES: Mapping[str, Mapping[str, str]] = {
    "en": {"VOICEMAIL": "voicemail", "VOICE MAIL": "voicemail", "MESSAGE": "voicemail",
           "LEFT A MESSAGE": "voicemail", "TALKED": "talked", "SPOKE": "talked", "TALKED TO SOMEONE": "talked",
           "HUNG UP": "hung_up", "HUNGUP": "hung_up", "THEY HUNG UP": "hung_up"},
    "es": {"BUZON": "voicemail", "BUZON DE VOZ": "voicemail", "MENSAJE": "voicemail", "DEJE MENSAJE": "voicemail",
           "HABLE": "talked", "HABLAMOS": "talked", "CONTESTARON": "talked",
           "COLGARON": "hung_up", "ME COLGARON": "hung_up", "COLGO": "hung_up"},
}

# What may follow LANG / IDIOMA, mapped to a catalog language code. The full names also work alone
# ("ESPANOL"), which is how many people ask for their language.
LANGUAGE_NAMES: Mapping[str, Mapping[str, str]] = {
    NEUTRAL: {"EN": "en", "ES": "es"},
    "en": {"ENGLISH": "en", "SPANISH": "es"},
    "es": {"INGLES": "en", "ESPANOL": "es"},
}

# Words that open a report on a given tree.
REPORT_WORDS: Mapping[str, Mapping[str, str]] = {
    NEUTRAL: {"ICE": "ice", "COPWATCH": "copwatch"},
    "en": {"EVICTION": "eviction"},
    "es": {"MIGRA": "ice", "REDADA": "ice", "DESALOJO": "eviction", "POLICIA": "copwatch"},
}

DEFAULT_REPORT_WORDS: Mapping[str, str] = {
    word: tree for table in REPORT_WORDS.values() for word, tree in table.items()
}
