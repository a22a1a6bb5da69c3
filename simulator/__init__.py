"""The demo estate: a deterministic hospital integration estate to point Chargeline at.

It generates the data (facilities, items, clinical activity, charges, inventory, claims),
draws the faults Chargeline must find, writes it in several renderings, serves it over
HTTP (FHIR billing and usage, OData ERP, the engine's channel API, OAuth2, HTTP faults),
writes the engine's HL7 logs, runs a loopback mail sink, and records the ground truth
(truth.json) the tests and benchmarks check Chargeline's figures against.

Imports: ``core`` only (and itself). It is a stand-in for the outside world, so it never
imports the packages that observe it (store, collectors, metrics, rules, alerting, app,
chargeline).
"""
