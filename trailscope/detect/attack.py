"""MITRE ATT&CK, one version for every rule: Enterprise ATT&CK v18.

Built-in rules name their techniques and tactic in v18. Sigma rules may be tagged in another
version: SigmaHQ moved to v19 in 2026, which split Defense Evasion into Stealth and Defense
Impairment and renumbered the Impair Defenses techniques (T1562.x became T1685.x and T1686.x).
Their tags are mapped back here (:data:`FROM_V19`, read from SigmaHQ's own conversion of its
rules), so findings, ``--list`` and the Navigator layer speak one version.

Only the techniques that rules here use, and those Sigma's CloudTrail rules name, are listed:
the table is what a finding shows (name and tactics), not a copy of ATT&CK.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from trailscope.detect.model import DetectError

VERSION = "18"

#: tactic short name -> (id, name), in the order of the Enterprise matrix
TACTICS: dict[str, tuple[str, str]] = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource-development": ("TA0042", "Resource Development"),
    "initial-access": ("TA0001", "Initial Access"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege-escalation": ("TA0004", "Privilege Escalation"),
    "defense-evasion": ("TA0005", "Defense Evasion"),
    "credential-access": ("TA0006", "Credential Access"),
    "discovery": ("TA0007", "Discovery"),
    "lateral-movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "command-and-control": ("TA0011", "Command and Control"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "impact": ("TA0040", "Impact"),
}

_DE, _PE, _PS, _IA = "defense-evasion", "privilege-escalation", "persistence", "initial-access"
_CA, _DI, _EX, _IM = "credential-access", "discovery", "execution", "impact"
_LM, _XF, _CO, _RD = "lateral-movement", "exfiltration", "collection", "resource-development"

#: technique -> (name, tactics)
TECHNIQUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "T1020": ("Automated Exfiltration", (_XF,)),
    "T1021": ("Remote Services", (_LM,)),
    "T1021.004": ("Remote Services: SSH", (_LM,)),
    "T1021.007": ("Remote Services: Cloud Services", (_LM,)),
    "T1040": ("Network Sniffing", (_CA, _DI)),
    "T1048": ("Exfiltration Over Alternative Protocol", (_XF,)),
    "T1059": ("Command and Scripting Interpreter", (_EX,)),
    "T1059.009": ("Command and Scripting Interpreter: Cloud API", (_EX,)),
    "T1069.003": ("Permission Groups Discovery: Cloud Groups", (_DI,)),
    "T1070": ("Indicator Removal", (_DE,)),
    "T1078": ("Valid Accounts", (_DE, _PS, _PE, _IA)),
    "T1078.004": ("Valid Accounts: Cloud Accounts", (_DE, _PS, _PE, _IA)),
    "T1087.004": ("Account Discovery: Cloud Account", (_DI,)),
    "T1098": ("Account Manipulation", (_PS, _PE)),
    "T1098.001": ("Account Manipulation: Additional Cloud Credentials", (_PS, _PE)),
    "T1098.003": ("Account Manipulation: Additional Cloud Roles", (_PS, _PE)),
    "T1098.004": ("Account Manipulation: SSH Authorized Keys", (_PS, _PE)),
    "T1098.006": ("Account Manipulation: Additional Container Cluster Roles", (_PS, _PE)),
    "T1087": ("Account Discovery", (_DI,)),
    "T1133": ("External Remote Services", (_PS, _IA)),
    "T1069": ("Permission Groups Discovery", (_DI,)),
    "T1199.001": ("Trusted Relationship", (_IA,)),
    "T1204": ("User Execution", (_EX,)),
    "T1588.002": ("Obtain Capabilities: Tool", (_RD,)),
    "T1110": ("Brute Force", (_CA,)),
    "T1110.001": ("Brute Force: Password Guessing", (_CA,)),
    "T1110.003": ("Brute Force: Password Spraying", (_CA,)),
    "T1136": ("Create Account", (_PS,)),
    "T1136.003": ("Create Account: Cloud Account", (_PS,)),
    "T1190": ("Exploit Public-Facing Application", (_IA,)),
    "T1199": ("Trusted Relationship", (_IA,)),
    "T1201": ("Password Policy Discovery", (_DI,)),
    "T1484": ("Domain or Tenant Policy Modification", (_DE, _PE)),
    "T1484.002": ("Domain or Tenant Policy Modification: Trust Modification", (_DE, _PE)),
    "T1485": ("Data Destruction", (_IM,)),
    "T1485.001": ("Data Destruction: Lifecycle-Triggered Deletion", (_IM,)),
    "T1486": ("Data Encrypted for Impact", (_IM,)),
    "T1489": ("Service Stop", (_IM,)),
    "T1490": ("Inhibit System Recovery", (_IM,)),
    "T1496": ("Resource Hijacking", (_IM,)),
    "T1496.004": ("Resource Hijacking: Cloud Service Hijacking", (_IM,)),
    "T1525": ("Implant Internal Image", (_PS,)),
    "T1526": ("Cloud Service Discovery", (_DI,)),
    "T1528": ("Steal Application Access Token", (_CA,)),
    "T1530": ("Data from Cloud Storage", (_CO,)),
    "T1531": ("Account Access Removal", (_IM,)),
    "T1535": ("Unused/Unsupported Cloud Regions", (_DE,)),
    "T1537": ("Transfer Data to Cloud Account", (_XF,)),
    "T1538": ("Cloud Service Dashboard", (_DI,)),
    "T1546": ("Event Triggered Execution", (_PE, _PS)),
    "T1548": ("Abuse Elevation Control Mechanism", (_PE, _DE)),
    "T1548.005": ("Abuse Elevation Control Mechanism: Temporary Elevated Cloud Access", (_PE, _DE)),
    "T1550": ("Use Alternate Authentication Material", (_DE, _LM)),
    "T1550.001": ("Use Alternate Authentication Material: Application Access Token", (_DE, _LM)),
    "T1552": ("Unsecured Credentials", (_CA,)),
    "T1552.001": ("Unsecured Credentials: Credentials In Files", (_CA,)),
    "T1552.005": ("Unsecured Credentials: Cloud Instance Metadata API", (_CA,)),
    "T1555": ("Credentials from Password Stores", (_CA,)),
    "T1555.006": ("Credentials from Password Stores: Cloud Secrets Management Stores", (_CA,)),
    "T1556": ("Modify Authentication Process", (_CA, _DE, _PS)),
    "T1556.006": ("Modify Authentication Process: Multi-Factor Authentication", (_CA, _DE, _PS)),
    "T1556.007": ("Modify Authentication Process: Hybrid Identity", (_CA, _DE, _PS)),
    "T1562": ("Impair Defenses", (_DE,)),
    "T1562.001": ("Impair Defenses: Disable or Modify Tools", (_DE,)),
    "T1562.002": ("Impair Defenses: Disable Windows Event Logging", (_DE,)),
    "T1562.003": ("Impair Defenses: Impair Command History Logging", (_DE,)),
    "T1562.004": ("Impair Defenses: Disable or Modify System Firewall", (_DE,)),
    "T1562.007": ("Impair Defenses: Disable or Modify Cloud Firewall", (_DE,)),
    "T1562.008": ("Impair Defenses: Disable or Modify Cloud Logs", (_DE,)),
    "T1562.010": ("Impair Defenses: Downgrade Attack", (_DE,)),
    "T1562.012": ("Impair Defenses: Disable or Modify Linux Audit System", (_DE,)),
    "T1565": ("Data Manipulation", (_IM,)),
    "T1566": ("Phishing", (_IA,)),
    "T1566.002": ("Phishing: Spearphishing Link", (_IA,)),
    "T1567": ("Exfiltration Over Web Service", (_XF,)),
    "T1578": ("Modify Cloud Compute Infrastructure", (_DE,)),
    "T1578.005": (
        "Modify Cloud Compute Infrastructure: Modify Cloud Compute Configurations",
        (_DE,),
    ),
    "T1580": ("Cloud Infrastructure Discovery", (_DI,)),
    "T1583.006": ("Acquire Infrastructure: Web Services", (_RD,)),
    "T1592": ("Gather Victim Host Information", ("reconnaissance",)),
    "T1606.002": ("Forge Web Credentials: SAML Tokens", (_CA,)),
    "T1608.003": ("Stage Capabilities: Install Digital Certificate", (_RD,)),
    "T1619": ("Cloud Storage Object Discovery", (_DI,)),
    "T1621": ("Multi-Factor Authentication Request Generation", (_CA,)),
    "T1648": ("Serverless Execution", (_EX,)),
    "T1651": ("Cloud Administration Command", (_EX,)),
    "T1666": ("Modify Cloud Resource Hierarchy", (_DE,)),
    "T1005": ("Data from Local System", (_CO,)),
    "T1003": ("OS Credential Dumping", (_CA,)),
    "T1016": ("System Network Configuration Discovery", (_DI,)),
    "T1059.001": ("Command and Scripting Interpreter: PowerShell", (_EX,)),
    "T1059.003": ("Command and Scripting Interpreter: Windows Command Shell", (_EX,)),
    "T1059.004": ("Command and Scripting Interpreter: Unix Shell", (_EX,)),
    "T1078.002": ("Valid Accounts: Domain Accounts", (_DE, _PS, _PE, _IA)),
}

#: SigmaHQ's v19 technique ids, as v18 ids (from the conversion of SigmaHQ's rules)
FROM_V19: dict[str, str] = {
    "T1685": "T1562.001",
    "T1685.001": "T1562.002",
    "T1685.002": "T1562.008",
    "T1685.004": "T1562.012",
    "T1685.005": "T1070.001",
    "T1685.006": "T1070.002",
    "T1686": "T1562.004",
    "T1686.001": "T1562.007",
    "T1686.003": "T1562.004",
    "T1689": "T1562.010",
    "T1690": "T1562.003",
}
#: v19 tactics that are v18's Defense Evasion
_V19_TACTICS = {"stealth": _DE, "defense-impairment": _DE}


def technique_name(technique: str) -> str | None:
    entry = TECHNIQUES.get(technique)
    return entry[0] if entry else None


def tactics_of(technique: str) -> tuple[str, ...]:
    """The tactics of a technique (a sub-technique not listed takes its parent's)."""
    entry = TECHNIQUES.get(technique) or TECHNIQUES.get(technique.split(".")[0])
    return entry[1] if entry else ()


def main_tactic(techniques: Iterable[str]) -> str | None:
    """The first tactic of the first technique that has one."""
    for technique in techniques:
        tactics = tactics_of(technique)
        if tactics:
            return tactics[0]
    return None


def check_tactic(tactic: str, techniques: tuple[str, ...], *, where: str) -> str:
    """A rule's tactic must be a v18 tactic of one of its techniques."""
    name = tactic.strip().lower().replace("_", "-").replace(" ", "-")
    if name not in TACTICS:
        raise DetectError(f"{where}: unknown ATT&CK tactic {tactic!r}", hint=", ".join(TACTICS))
    for technique in techniques:
        if technique not in TECHNIQUES and technique.split(".")[0] not in TECHNIQUES:
            raise DetectError(f"{where}: technique {technique} is not in trailscope's ATT&CK table")
    if techniques and not any(name in tactics_of(t) for t in techniques):
        raise DetectError(f"{where}: tactic {name!r} is not a tactic of {', '.join(techniques)}")
    return name


def from_sigma_tags(tags: Iterable[str]) -> tuple[tuple[str, ...], str | None]:
    """Techniques (v18 ids) and the main tactic of a Sigma rule's ``attack.*`` tags."""
    techniques: list[str] = []
    tactics: list[str] = []
    for tag in tags:
        name = tag.lower()
        if name.startswith("attack."):
            name = name[len("attack.") :]
        if name[:1] == "t" and name[1:2].isdigit():
            technique = FROM_V19.get(name.upper(), name.upper())
            if technique not in techniques:
                techniques.append(technique)
            continue
        named = _V19_TACTICS.get(name.replace("_", "-"), name.replace("_", "-"))
        if named in TACTICS and named not in tactics:
            tactics.append(named)
    own = [t for t in tactics if any(t in tactics_of(x) for x in techniques)]
    chosen = (own or tactics)[:1]
    return tuple(techniques), chosen[0] if chosen else main_tactic(techniques)


def navigator_layer(rules: Iterable[Any], *, name: str = "trailscope detections") -> dict[str, Any]:
    """An ATT&CK Navigator layer of the techniques the rules cover (score: how many rules)."""
    cells: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        for technique in rule.mitre:
            for tactic in tactics_of(technique) or ((rule.tactic,) if rule.tactic else ()):
                cells.setdefault((technique, tactic), []).append(rule.id)
    top = max((len(v) for v in cells.values()), default=1)
    return {
        "name": name,
        "versions": {"attack": VERSION, "navigator": "5.1", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": "Techniques covered by the enabled trailscope rules",
        "filters": {"platforms": ["IaaS", "Identity Provider", "SaaS"]},
        "gradient": {"colors": ["#d6e9ff", "#1f6fd1"], "minValue": 0, "maxValue": top},
        "techniques": [
            {
                "techniqueID": technique,
                "tactic": tactic,
                "score": len(ids),
                "comment": ", ".join(sorted(ids)),
                "enabled": True,
            }
            for (technique, tactic), ids in sorted(cells.items())
        ],
    }


def layer_json(rules: Iterable[Any]) -> str:
    return json.dumps(navigator_layer(rules), indent=2) + "\n"
