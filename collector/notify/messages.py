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
        "subject_resolved": "[Vigie] RÉSOLU — {site} : {count} alerte(s) terminée(s)",
        "subject_digest": "[Vigie] Récapitulatif du {date} : {count} avertissement(s)",
        "subject_summary": "[Vigie] Résumé : trop d'alertes en une heure",
        "intro": "Vigie signale pour la commune de {site} :",
        "intro_digest": "Avertissements en cours (à prévoir lors d'une prochaine visite) :",
        "since": "depuis le {date}",
        "repeat": "(rappel)",
        "value": "valeur : {value}",
        "ended": "Terminé :",
        "ended_at": "terminé le {date}",
        "link": "Voir : {url}",
        "footer": "— Vigie, supervision des équipements des communes.\n"
        "Pour ne plus recevoir ces messages sur une alerte : acquittez-la ou mettez-la en "
        "silence dans Vigie.",
        "eta_past": "dès maintenant",
        "eta_hours": "vers {time}, dans {n} heure(s)",
        "eta_days": "vers le {date}, dans {n} jour(s)",
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
        "subject_resolved": "[Vigie] RESOLVED — {site}: {count} alert(s) over",
        "subject_digest": "[Vigie] Digest of {date}: {count} warning(s)",
        "subject_summary": "[Vigie] Summary: too many alerts in one hour",
        "intro": "Vigie reports for {site}:",
        "intro_digest": "Warnings in progress (to plan for a next visit):",
        "since": "since {date}",
        "repeat": "(reminder)",
        "value": "value: {value}",
        "ended": "Over:",
        "ended_at": "over on {date}",
        "link": "See: {url}",
        "footer": "— Vigie, monitoring of the communes' equipment.\n"
        "To stop mails about an alert: acknowledge or silence it in Vigie.",
        "eta_past": "now",
        "eta_hours": "around {time}, in {n} hour(s)",
        "eta_days": "around {date}, in {n} day(s)",
        "date": "{day} {month} {year} at {time}",
        "date_short": "{day} {month}",
        "months": "January February March April May June July August September October "
        "November December",
        "time": "{hour}:{minute:02d}",
    },
}
