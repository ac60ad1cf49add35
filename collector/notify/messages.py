"""Every user-facing word of the alert mails, per language, so French and English stay in step."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "critical": "CRITIQUE",
        "warning": "AVERTISSEMENT",
        "info": "INFO",
        "resolved": "RÉSOLU",
        "subject_one": "[Vigie] {severity} — {site} : {what}",
        "subject_many": "[Vigie] {severity} — {site} : {count} alertes",
        "subject_resolved": "[Vigie] RÉSOLU — {site} : {n} alerte terminée"
        "|[Vigie] RÉSOLU — {site} : {n} alertes terminées",
        "subject_digest": "[Vigie] Récapitulatif du {date} : {n} avertissement"
        "|[Vigie] Récapitulatif du {date} : {n} avertissements",
        "subject_summary": "[Vigie] Résumé : trop d'alertes en une heure",
        "intro": "Vigie signale pour la commune de {site} :",
        "intro_digest": "Avertissements en cours (à prévoir lors d'une prochaine visite) :",
        "since": "depuis le {date}",
        "repeat": "(rappel)",
        "state": "{state} (code {code})",
        "silent_for": "silencieux depuis {duration}",
        "day_unit": "j",
        "ip": "adresse IP {ip}",
        "disk": "disque {model}, n° de série {serial}",
        "action": "À faire : {action}",
        "ended": "Terminé :",
        "ended_at": "terminé le {date}",
        "link": "Voir : {url}",
        "footer": "— Vigie, supervision des équipements des communes.\n"
        "Pour ne plus recevoir ces messages sur une alerte : acquittez-la ou mettez-la en "
        "silence dans Vigie.",
        "eta_past": "dès maintenant",
        "eta_hours": "vers {time}, dans {n} heure|vers {time}, dans {n} heures",
        "eta_days": "vers le {date}, dans {n} jour|vers le {date}, dans {n} jours",
        "date": "{day} {month} {year} à {time}",
        "date_short": "{day} {month}",
        "months": "janvier février mars avril mai juin juillet août septembre octobre "
        "novembre décembre",
        "time": "{hour} h {minute:02d}",
    },
    "en": {
        "critical": "CRITICAL",
        "warning": "WARNING",
        "info": "INFO",
        "resolved": "RESOLVED",
        "subject_one": "[Vigie] {severity} — {site}: {what}",
        "subject_many": "[Vigie] {severity} — {site}: {count} alerts",
        "subject_resolved": "[Vigie] RESOLVED — {site}: {n} alert over"
        "|[Vigie] RESOLVED — {site}: {n} alerts over",
        "subject_digest": "[Vigie] Digest of {date}: {n} warning"
        "|[Vigie] Digest of {date}: {n} warnings",
        "subject_summary": "[Vigie] Summary: too many alerts in one hour",
        "intro": "Vigie reports for {site}:",
        "intro_digest": "Warnings in progress (to plan for a next visit):",
        "since": "since {date}",
        "repeat": "(reminder)",
        "state": "{state} (code {code})",
        "silent_for": "silent for {duration}",
        "day_unit": "d",
        "ip": "IP address {ip}",
        "disk": "disk {model}, serial number {serial}",
        "action": "What to do: {action}",
        "ended": "Over:",
        "ended_at": "over on {date}",
        "link": "See: {url}",
        "footer": "— Vigie, monitoring of the communes' equipment.\n"
        "To stop mails about an alert: acknowledge or silence it in Vigie.",
        "eta_past": "now",
        "eta_hours": "around {time}, in {n} hour|around {time}, in {n} hours",
        "eta_days": "around {date}, in {n} day|around {date}, in {n} days",
        "date": "{day} {month} {year} at {time}",
        "date_short": "{day} {month}",
        "months": "January February March April May June July August September October "
        "November December",
        "time": "{hour}:{minute:02d}",
    },
}
