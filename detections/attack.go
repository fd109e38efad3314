package detections

import (
	"sort"
	"strings"
)

// AttackVersion is the MITRE ATT&CK Enterprise version the pack's tags
// follow: the one SigmaHQ's rules use (its coverage layer says 19.1). In v19
// Defense Evasion was retired: TA0005 is Stealth, TA0112 is Defense
// Impairment, and T1562 (Impair Defenses) became T1685/T1686.
const AttackVersion = "19.1"

// Tactics are the ATT&CK v19 Enterprise tactics: ID to the name SigmaHQ
// writes as a tag (attack.<name>).
var Tactics = map[string]string{
	"TA0043": "reconnaissance",
	"TA0042": "resource-development",
	"TA0001": "initial-access",
	"TA0002": "execution",
	"TA0003": "persistence",
	"TA0004": "privilege-escalation",
	"TA0005": "stealth",
	"TA0112": "defense-impairment",
	"TA0006": "credential-access",
	"TA0007": "discovery",
	"TA0008": "lateral-movement",
	"TA0009": "collection",
	"TA0011": "command-and-control",
	"TA0010": "exfiltration",
	"TA0040": "impact",
}

// Technique is an ATT&CK technique the pack may name.
type Technique struct {
	Name string
	// Tactics are the IDs of the tactics the technique serves in v19.
	Tactics []string
}

// Techniques are the ATT&CK v19 techniques that apply to a SaaS audit log,
// with the tactics SigmaHQ's v19 rules pair them with. A technique outside
// this list is rejected: add it here, checked against attack.mitre.org.
var Techniques = map[string]Technique{
	"T1020":     {"Automated Exfiltration", []string{"TA0010"}},
	"T1053":     {"Scheduled Task/Job", []string{"TA0002", "TA0003", "TA0004"}},
	"T1078":     {"Valid Accounts", []string{"TA0001", "TA0003", "TA0004", "TA0005"}},
	"T1078.004": {"Valid Accounts: Cloud Accounts", []string{"TA0001", "TA0003", "TA0004", "TA0005"}},
	"T1087.004": {"Account Discovery: Cloud Account", []string{"TA0007"}},
	"T1090.003": {"Proxy: Multi-hop Proxy", []string{"TA0011"}},
	"T1098":     {"Account Manipulation", []string{"TA0003", "TA0004"}},
	"T1098.001": {"Account Manipulation: Additional Cloud Credentials", []string{"TA0003", "TA0004"}},
	"T1098.003": {"Account Manipulation: Additional Cloud Roles", []string{"TA0003", "TA0004"}},
	"T1133":     {"External Remote Services", []string{"TA0001", "TA0003"}},
	"T1136.003": {"Create Account: Cloud Account", []string{"TA0003"}},
	"T1195.002": {"Supply Chain Compromise: Compromise Software Supply Chain", []string{"TA0001"}},
	"T1199":     {"Trusted Relationship", []string{"TA0001"}},
	"T1213.003": {"Data from Information Repositories: Code Repositories", []string{"TA0009"}},
	"T1484.002": {"Domain or Tenant Policy Modification: Trust Modification", []string{"TA0004", "TA0112"}},
	"T1485":     {"Data Destruction", []string{"TA0040"}},
	"T1489":     {"Service Stop", []string{"TA0040"}},
	"T1496":     {"Resource Hijacking", []string{"TA0040"}},
	"T1526":     {"Cloud Service Discovery", []string{"TA0007"}},
	"T1528":     {"Steal Application Access Token", []string{"TA0006"}},
	"T1530":     {"Data from Cloud Storage", []string{"TA0009"}},
	"T1531":     {"Account Access Removal", []string{"TA0040"}},
	"T1537":     {"Transfer Data to Cloud Account", []string{"TA0010"}},
	"T1550.001": {"Use Alternate Authentication Material: Application Access Token", []string{"TA0005", "TA0008"}},
	"T1556":     {"Modify Authentication Process", []string{"TA0003", "TA0006", "TA0112"}},
	"T1556.006": {"Modify Authentication Process: Multi-Factor Authentication", []string{"TA0003", "TA0006", "TA0112"}},
	"T1567":     {"Exfiltration Over Web Service", []string{"TA0010"}},
	"T1648":     {"Serverless Execution", []string{"TA0002"}},
	"T1685":     {"Disable or Modify Tools", []string{"TA0112"}},
	"T1685.002": {"Disable or Modify Tools: Disable or Modify Cloud Logs", []string{"TA0112"}},
	"T1686.001": {"Impair Network Defenses: Disable or Modify Cloud Firewall", []string{"TA0112"}},
}

// AttackTags returns the Sigma tags of d's MITRE metadata, sorted:
// attack.<tactic name> per tactic and attack.<technique, lower case> per
// technique. The Sigma rule and the YAML categories carry exactly these.
func (d Detection) AttackTags() []string {
	var out []string
	for _, t := range d.MitreAttacks {
		if name, ok := Tactics[t]; ok {
			out = append(out, "attack."+name)
		}
	}
	for _, t := range d.MitreTechniques {
		out = append(out, "attack."+strings.ToLower(t))
	}
	sort.Strings(out)
	return out
}

// checkAttack reports unknown tactics and techniques, and techniques none of
// whose tactics the detection names.
func (d Detection) checkAttack(bad func(string, ...any)) {
	tactics := map[string]bool{}
	for _, t := range d.MitreAttacks {
		if _, ok := Tactics[t]; !ok && tacticRE.MatchString(t) {
			bad("mitreAttacks: %s is not an ATT&CK v%s Enterprise tactic", t, AttackVersion)
		}
		tactics[t] = true
	}
	for _, t := range d.MitreTechniques {
		tech, ok := Techniques[t]
		if !ok {
			if techniqueRE.MatchString(t) {
				bad("mitreTechniques: %s is not in the pack's ATT&CK v%s list (detections/attack.go)", t, AttackVersion)
			}
			continue
		}
		found := false
		for _, ta := range tech.Tactics {
			found = found || tactics[ta]
		}
		if !found {
			bad("mitreTechniques: %s (%s) serves %s, none of them in mitreAttacks", t, tech.Name, strings.Join(tech.Tactics, ", "))
		}
	}
	var cats []string
	for _, c := range d.Categories {
		if strings.HasPrefix(c, "attack.") {
			cats = append(cats, c)
		}
	}
	sort.Strings(cats)
	if want := d.AttackTags(); strings.Join(cats, " ") != strings.Join(want, " ") {
		bad("categories: attack tags %v, want %v (from mitreAttacks and mitreTechniques)", cats, want)
	}
}
