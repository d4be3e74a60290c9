"""Fake blocks with the attribute names of edx-platform's blocks (see test_unit_content.py)."""

import itertools
import types

_ids = itertools.count()


class Block:
    """A block as the LMS runtime hands it over: scope ids, fields as attributes, parent and children."""

    def __init__(self, block_type, display_name="", children=(), **fields):
        self.scope_ids = types.SimpleNamespace(
            block_type=block_type, usage_id=f"block-v1:X+Y+Z+type@{block_type}+block@{next(_ids)}"
        )
        self.display_name = display_name
        self.parent = None
        self.children = list(children)
        for child in self.children:
            child.parent = self
        for name, value in fields.items():
            setattr(self, name, value)

    def get_parent(self):
        return self.parent

    def get_children(self):
        return list(self.children)


class Video(Block):
    """edx-platform's VideoBlock transcript API: languages in ``transcripts`` (and ``sub`` for English)."""

    def __init__(self, display_name="Video", texts=None, sub="", missing=(), **fields):
        super().__init__("video", display_name, **fields)
        self.texts = texts or {}
        self.sub = sub
        self.transcripts = {lang: f"{lang}.srt" for lang in self.texts if lang != "en" or not sub}
        self.missing = set(missing)
        self.asked = []

    def get_transcripts_info(self, is_bumper=False):  # noqa: ARG002 - edx-platform's signature
        return {"sub": self.sub, "transcripts": dict(self.transcripts)}

    def get_transcript(self, transcripts, transcript_format="srt", lang=None):
        assert transcripts == self.get_transcripts_info()
        self.asked.append((lang, transcript_format))
        if lang in self.missing:
            raise LookupError("no transcript file in storage")
        return self.texts[lang], f"{lang}.txt", "text/plain"


CAPA = """<problem>
<script type="loncapa/python">secret_seed = 1234
def check(expect, ans): return ans == "Mitochondria"</script>
<p>Cells need energy.</p>
<multiplechoiceresponse>
  <label>Which organelle makes ATP?</label>
  <description>Pick the best answer.</description>
  <choicegroup type="MultipleChoice">
    <choice correct="false">Nucleus<choicehint>No: it stores DNA.</choicehint></choice>
    <choice correct="true">Mitochondria<choicehint>Yes! The powerhouse.</choicehint></choice>
    <choice correct="false">Ribosome</choice>
  </choicegroup>
  <solution><div class="detailed-solution"><p>Explanation</p><p>Mitochondria run respiration.</p></div></solution>
</multiplechoiceresponse>
<stringresponse answer="Krebs" type="ci">
  <label>Which cycle follows glycolysis?</label>
  <additional_answer answer="citric acid">Also called the TCA loop.</additional_answer>
  <correcthint>Well done, Hans Krebs.</correcthint>
  <stringequalhint answer="Calvin">The Calvin cycle is in plants.</stringequalhint>
  <textline size="20"/>
</stringresponse>
<optionresponse>
  <label>ATP stands for adenosine ___ phosphate.</label>
  <optioninput options="('mono','di','tri')" correct="tri"/>
</optionresponse>
<choiceresponse>
  <label>Which are products of respiration?</label>
  <checkboxgroup shuffle="true">
    <choice correct="true">Water</choice>
    <choice correct="true">Carbon dioxide</choice>
    <choice correct="false">Glucose</choice>
    <compoundhint value="A B">You found both products.</compoundhint>
  </checkboxgroup>
</choiceresponse>
<customresponse cfn="check" expect="Mitochondria">
  <label>Name it again.</label>
  <textline/>
  <answer type="loncapa/python">if a < b and c > d:
    correct = ['correct']  # grader code</answer>
</customresponse>
<targetedfeedbackset><targetedfeedback explanation-id="f1">Feedback on a wrong choice.</targetedfeedback>
</targetedfeedbackset>
<demandhint><hint>First hint: think of energy.</hint><hint>Second hint: power.</hint></demandhint>
<!-- the answer is Mitochondria -->
</problem>"""

CAPA_SECRETS = (
    "secret_seed",
    "def check",
    "correct",
    "true",
    "No: it stores DNA",
    "Yes!",
    "powerhouse",
    "Explanation",
    "run respiration",
    "Krebs",
    "citric acid",
    "TCA loop",
    "Well done",
    "Calvin",
    'tri"',
    "You found both",
    "grader code",
    "if a",
    "Feedback on a wrong choice",
    "First hint",
    "Second hint",
    "the answer is",
)
