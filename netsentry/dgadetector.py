"""The detector of ``kind: dga`` rules: a name field scored by :mod:`netsentry.dga`.

A rule scores one name field -- the queried names of DNS requests by default, or an
HTTP Host or TLS SNI -- and fires when a name reaches its ``score``. Resolvers
retry, browsers ask for A and AAAA, and a DGA domain's subdomains all share its
score, so a rule reports each registrable domain once per client; the evidence
names the score and the features that contributed most (``netsentry dga score``
shows all of them).

Per-host evidence (many high-scoring names from one client) is not counted here:
the ``dns.dga_score`` field lets ordinary threshold rules do it with their sliding
windows and per-key state (see ``dga-host-names`` in the packaged rules).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from netsentry.conditions import compile_condition
from netsentry.dga import DgaScorer, default_scorer
from netsentry.fields import Ctx, FieldSpec, resolve
from netsentry.findings import Finding
from netsentry.rules import DgaRule

MAX_REPORTED = 20_000  # (client, domain) pairs remembered per rule; the oldest go first
TOP_FEATURES = 3  # contributions shown in a finding's evidence


class _DgaState:
    """One rule, compiled: its field, conditions and the pairs already reported."""

    def __init__(self, rule: DgaRule) -> None:
        spec = resolve(rule.field)
        assert spec is not None  # validated when the rule was loaded
        self.rule = rule
        self.spec: FieldSpec = spec
        self.predicates: list[Callable[[Ctx], bool]] = [compile_condition(c) for c in rule.where]
        self.reported: OrderedDict[tuple[Any, str], None] = OrderedDict()

    def first_report(self, client: Any, domain: str) -> bool:
        """True the first time a client is reported for a domain (bounded memory)."""
        key = (client, domain)
        if key in self.reported:
            self.reported.move_to_end(key)
            return False
        self.reported[key] = None
        if len(self.reported) > MAX_REPORTED:
            self.reported.popitem(last=False)
        return True


class DgaDetector:
    """Scores name fields of DNS, HTTP and TLS records against dga rules' thresholds."""

    def __init__(self, rules: Sequence[DgaRule], scorer: DgaScorer | None = None) -> None:
        self.by_record: dict[str, list[_DgaState]] = defaultdict(list)
        for rule in rules:
            state = _DgaState(rule)
            self.by_record[state.spec.record].append(state)
        # Loaded on first use: a rule set without dga rules never reads the model.
        self._scorer = scorer
        # --jobs N (netsentry.flowsplit): the once-per-client check is cross-flow state,
        # so a finding is handed to this hook (record, rule index, client, registrable
        # domain, finding) and the check runs centrally, in merged order.
        self.defer: Callable[[str, int, Any, str, Finding], Finding] | None = None

    @property
    def scorer(self) -> DgaScorer:
        """The scorer in use (the packaged model unless one was given)."""
        if self._scorer is None:
            self._scorer = default_scorer()
        return self._scorer

    def evaluate(self, record: str, ctx: Ctx) -> list[Finding]:
        """Findings of the dga rules on this record type for one record."""
        states = self.by_record.get(record)
        if not states:
            return []
        event = ctx.event
        findings: list[Finding] = []
        for index, state in enumerate(states):
            spec = state.spec
            if spec.side is not None and event is not None and event.direction != spec.side:
                continue  # a response repeats its request's names: score each once
            value = spec.get(ctx)
            if not value:
                continue
            if state.predicates and not all(p(ctx) for p in state.predicates):
                continue
            for name in value if isinstance(value, list) else [value]:
                if not isinstance(name, str) or not name:
                    continue
                finding = self._check(state, ctx, name, record, index)
                if finding is not None:
                    findings.append(finding)
        return findings

    def _check(
        self, state: _DgaState, ctx: Ctx, name: str, record: str = "", index: int = 0
    ) -> Finding | None:
        scorer = self.scorer
        score = scorer.score(name)
        if score < state.rule.score:
            return None
        explanation = scorer.explain(name)  # only for names that fire: rare
        flow = ctx.flow
        client = flow.cli if flow is not None else ctx.src
        registrable = explanation.target.registrable
        if self.defer is None and not state.first_report(client, registrable):
            return None
        top = sorted(explanation.contributions, key=lambda p: p[2], reverse=True)
        evidence = {
            "field": state.spec.name,
            "name": name,
            "registrable": explanation.target.registrable,
            "score": round(score, 4),
            "threshold": state.rule.score,
            "top_features": [
                {"feature": f, "value": round(v, 3), "contribution": round(c, 3)}
                for f, v, c in top[:TOP_FEATURES]
            ],
        }
        finding = Finding.from_ctx(state.rule, ctx, evidence)
        if self.defer is not None:
            return self.defer(record, index, client, registrable, finding)
        return finding
