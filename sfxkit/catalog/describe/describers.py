"""Describers: turn a sound's metadata into what one would *see* when the sound happens.

These visual descriptions are what the CLIP text tower embeds for the zero-shot ``clip_text``
view, and what pair mining matches frames against. A :class:`Describer` takes a batch of catalog
items and returns, per item, a few short descriptions (deterministic for the same input).

Three describers share the protocol:

- :class:`TemplateDescriber` (the offline default) needs no model: it finds a visual *subject*
  (a door, rain, a dog, a gun...) in the title, description, tags and UCS category, adds what the
  metadata says about material, action, surface and manner, and fills caption templates::

      title "Door wood creak open slow", category DOORS / WOOD
        -> "a photo of a wooden door being opened slowly",
           "a close-up of a wooden door being opened slowly", "a scene with ..."

  When nothing visual is recognised it falls back to ``"a photo of {title lowercased}"``.
- :class:`TransformersDescriber`: any local causal language model (a Hugging Face id found in
  the local caches, or a directory), prompted with :data:`DEFAULT_PROMPT`.
- :class:`OpenAIDescriber`: any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp
  server, ...), with a timeout, bounded retries with backoff, and a persistent response cache
  (:mod:`sfxkit.catalog.describe.cache`) keyed by (model, prompt version, input): a rerun makes no call.

Language-model output is cleaned (:func:`clean_description`: first line, no numbering or quotes,
length-limited); an answer with nothing usable falls back to the template's descriptions for that
item. The prompt is a versioned :class:`PromptTemplate`; a describer's ``version`` contains the
prompt version, and every catalog item records ``describer = "name/version"``, so descriptions
say which prompt made them and a rebuild re-describes only what a new prompt would change.
:func:`describe_index` re-describes an existing index and re-embeds its ``clip_text`` view.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from sfxkit.errors import InputError, ModelError, SfxkitError

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.catalog.describe.cache import ResponseCache
    from sfxkit.catalog.schema import CatalogItem


@runtime_checkable
class Describer(Protocol):
    """Makes visual descriptions for catalog items (batch in, one list per item out)."""

    name: str
    version: str

    def describe(self, items: Sequence[CatalogItem], n: int = 3) -> list[list[str]]: ...


TEMPLATES: tuple[str, ...] = (
    "a photo of {}",
    "a close-up of {}",
    "a scene with {}",
    "a video frame showing {}",
    "a film still of {}",
    "a wide shot of {}",
)


@dataclass(frozen=True)
class _Subject:
    keywords: tuple[str, ...]
    noun: str
    kind: str  # "object": takes passive actions; "agent": active; "scene": a finished phrase
    default: str = ""  # action used when the metadata names none
    article: bool = True
    surface: bool = False  # "on gravel", "on a roof": where it happens is visible


def _s(
    keywords: str,
    noun: str,
    kind: str = "object",
    default: str = "",
    article: bool = True,
    surface: bool = False,
) -> _Subject:
    return _Subject(tuple(keywords.split()), noun, kind, default, article, surface)


# Order matters only to break ties between subjects found at the same word position.
_SUBJECTS: tuple[_Subject, ...] = (
    _s("footstep footsteps footfall steps step", "person", "agent", "walking", surface=True),
    _s("door doors doorway", "door"),
    _s("gate", "gate"),
    _s("window windows", "window"),
    _s("drawer drawers", "drawer"),
    _s("cabinet cupboard locker", "cabinet door"),
    _s("gun guns gunshot gunshots gunfire firearm", "gun", "object", "being fired"),
    _s("pistol handgun revolver", "pistol", "object", "being fired"),
    _s("rifle sniper", "rifle", "object", "being fired"),
    _s("shotgun", "shotgun", "object", "being fired"),
    _s("machinegun automatic", "machine gun", "object", "being fired"),
    _s("cannon artillery mortar", "cannon", "object", "being fired"),
    _s(
        "explosion explosions explode exploding blast bomb grenade detonation dynamite",
        "an explosion with fire and smoke",
        "scene",
    ),
    _s("firework fireworks", "fireworks exploding in the night sky", "scene"),
    _s(
        "thunder thunderstorm lightning storm",
        "a thunderstorm with lightning over dark clouds",
        "scene",
    ),
    _s("rain raining rainfall downpour drizzle", "rain", "agent", "falling", False, True),
    _s("hail", "hail falling", "scene"),
    _s("wind windy gust gale breeze", "trees swaying in the wind", "scene"),
    _s("campfire bonfire fireplace", "campfire", "agent", "burning"),
    _s("fire flame flames blaze burning torch", "fire", "agent", "burning", False),
    _s("waterfall", "a waterfall", "scene"),
    _s("ocean sea surf waves wave seaside beach shore", "ocean waves breaking on a beach", "scene"),
    _s("river stream creek brook", "water flowing in a stream", "scene"),
    _s("underwater", "an underwater scene", "scene"),
    _s("splash splashing", "water splashing", "scene"),
    _s("faucet tap sink shower toilet plumbing", "water running from a tap", "scene"),
    _s("drip dripping drips", "water dripping", "scene"),
    _s("water liquid", "water", "agent", "flowing", False),
    _s("bubble bubbles bubbling boiling", "liquid bubbling", "scene"),
    _s("mud squelch", "mud", "scene"),
    _s("engine motor", "car engine", "agent", "running"),
    _s("motorcycle motorbike scooter moped", "motorcycle", "agent", "driving"),
    _s("truck lorry", "truck", "agent", "driving"),
    _s("bus", "bus", "agent", "driving"),
    _s("tractor bulldozer excavator digger", "bulldozer", "agent", "working"),
    _s("tank", "military tank", "agent", "driving"),
    _s("car cars vehicle vehicles sedan automobile", "car", "agent", "driving", surface=True),
    _s("bicycle bike", "bicycle", "agent", "being ridden"),
    _s("train trains locomotive subway metro tram", "train", "agent", "passing by"),
    _s("helicopter chopper", "helicopter", "agent", "flying"),
    _s("airplane plane jet aircraft airliner", "airplane", "agent", "flying overhead"),
    _s("spaceship spacecraft ufo", "futuristic spaceship", "agent", "flying"),
    _s("rocket", "rocket", "agent", "launching"),
    _s("boat boats ship ships ferry yacht canoe kayak", "boat", "agent", "on the water"),
    _s("submarine", "submarine", "agent", "underwater"),
    _s("applause clapping", "an audience applauding", "scene"),
    _s("cheer cheering cheers", "a crowd cheering", "scene"),
    _s("crowd crowds audience walla", "a crowd of people", "scene"),
    _s("conversation chatter talking", "people talking", "scene"),
    _s("baby infant", "baby", "agent", "crying"),
    _s("child children kids kid", "children", "agent", "playing", False),
    _s("scream screaming shriek yell", "a person screaming", "scene"),
    _s("laugh laughing laughter giggle", "a person laughing", "scene"),
    _s("cough coughing sneeze", "a person coughing", "scene"),
    _s("breath breathing panting sigh", "a person breathing heavily", "scene"),
    _s("heartbeat", "a person's chest", "scene"),
    _s("punch punches kick slap fight fighting", "two people fighting", "scene"),
    _s("bodyfall", "a person falling to the ground", "scene"),
    _s("clap claps", "hands clapping", "scene"),
    _s("sword swords blade", "sword", "object", "being swung"),
    _s("knife knives dagger", "knife", "object"),
    _s("axe hatchet", "axe", "object", "chopping wood"),
    _s("arrow arrows", "arrow", "agent", "flying"),
    _s("bow crossbow", "bow", "object", "being drawn"),
    _s("dog dogs puppy hound", "dog", "agent", "barking"),
    _s("cat cats kitten", "cat", "agent", "meowing"),
    _s("lion tiger leopard", "lion", "agent", "roaring"),
    _s("wolf wolves", "wolf", "agent", "howling"),
    _s("bear", "bear", "agent", "growling"),
    _s("horse horses hooves gallop", "horse", "agent", "galloping", surface=True),
    _s("cow cows cattle", "cow", "agent", "mooing"),
    _s("sheep goat", "sheep", "agent"),
    _s("pig pigs", "pig", "agent"),
    _s("rooster chicken chickens hen", "rooster", "agent"),
    _s("duck ducks goose geese", "duck", "agent"),
    _s("owl", "owl", "agent", "hooting at night"),
    _s("crow crows raven", "crow", "agent", "cawing"),
    _s("seagull gull gulls", "seagull", "agent", "flying over the sea"),
    _s("bird birds songbird birdsong chirp chirping tweet", "bird", "agent", "singing in a tree"),
    _s("frog frogs toad", "frog", "agent", "croaking"),
    _s(
        "insect insects cricket crickets cicada bee bees fly flies mosquito",
        "insect",
        "agent",
        "buzzing",
    ),
    _s("monkey ape gorilla", "monkey", "agent"),
    _s("elephant", "elephant", "agent", "trumpeting"),
    _s("snake", "snake", "agent", "hissing"),
    _s("monster creature beast", "monster", "agent", "growling"),
    _s("dragon", "dragon", "agent", "breathing fire"),
    _s("zombie zombies", "zombie", "agent", "shambling"),
    _s("ghost spirit", "ghost", "agent"),
    _s("robot robots", "robot", "agent", "moving"),
    _s("laser lasers blaster phaser", "laser beam", "object"),
    _s("magic spell spells", "a glowing magic spell", "scene"),
    _s(
        "whoosh whooshes swoosh swooshes swish swipe",
        "an object moving fast past the camera",
        "scene",
    ),
    _s("keyboard typing keys", "hands typing on a keyboard", "scene"),
    _s("typewriter", "typewriter", "object", "being typed on"),
    _s("mouse", "computer mouse", "object", "being clicked"),
    _s("computer laptop", "computer", "object"),
    _s("phone telephone cellphone smartphone ringtone", "phone", "agent", "ringing"),
    _s("camera shutter", "camera", "object", "taking a photo"),
    _s("radio walkie", "radio", "object"),
    _s("television tv", "television", "object"),
    _s("interface ui button menu notification beep", "a user interface on a screen", "scene"),
    _s("clock clocks tick ticking", "clock", "agent", "ticking"),
    _s("bell bells chime chimes gong", "bell", "agent", "ringing"),
    _s("siren sirens", "a police car with flashing lights", "scene"),
    _s("alarm alarms", "alarm", "agent", "going off"),
    _s("elevator lift", "elevator", "object"),
    _s("fan", "fan", "agent", "spinning"),
    _s("drill", "power drill", "object", "drilling"),
    _s("saw chainsaw", "saw", "object", "cutting wood"),
    _s("hammer hammering", "hammer", "object", "hitting a nail"),
    _s("machine machines factory industrial machinery", "an industrial machine", "scene"),
    _s("tool tools", "tool", "object", "being used"),
    _s("bullet bullets ricochet", "bullets hitting a wall", "scene"),
    _s("weapon weapons", "weapon", "object"),
    _s("steam", "steam escaping from a pipe", "scene"),
    _s("umbrella", "umbrella", "object"),
    _s("tennis", "a tennis match", "scene"),
    _s("sport sports gym", "people playing sports", "scene"),
    _s("food meal", "a plate of food", "scene"),
    _s("designed drone riser stinger cinematic", "a dramatic cinematic scene", "scene"),
    _s("sizzle sizzling frying fry cooking", "food sizzling in a frying pan", "scene"),
    _s("eat eating chew chewing bite crunch", "a person eating", "scene"),
    _s("drink drinking sip gulp", "a person drinking", "scene"),
    _s("cutlery plate plates dishes", "dishes on a table", "scene"),
    _s("bottle bottles", "bottle", "object"),
    _s("cup mug", "cup", "object"),
    _s("chain chains", "metal chain", "object"),
    _s("coin coins money", "coins", "object", "", False),
    _s("zipper zip", "zipper", "object"),
    _s("bag backpack suitcase luggage", "bag", "object"),
    _s("book books page pages", "book", "object", "being leafed through"),
    _s("chair chairs", "chair", "object"),
    _s("table desk", "table", "object"),
    _s("switch lever latch", "switch", "object", "being flipped"),
    _s("ball basketball football soccer", "ball", "object", "bouncing"),
    _s("skateboard", "skateboard", "agent", "rolling"),
    _s("snow snowy", "a snowy landscape", "scene"),
    _s("ice", "ice", "object", "", False),
    _s("rock rocks stone stones pebbles rockfall", "rocks", "object", "", False),
    _s("tree trees branch branches", "tree", "object"),
    _s("leaves foliage bush grass", "leaves rustling", "scene"),
    _s("forest woods woodland jungle rainforest", "a forest", "scene"),
    _s("city urban street downtown", "a busy city street", "scene"),
    _s("traffic highway road freeway", "traffic on a busy road", "scene"),
    _s("office", "an office with people at desks", "scene"),
    _s("restaurant cafe bar pub diner", "a busy restaurant", "scene"),
    _s("market bazaar", "a busy market", "scene"),
    _s("stadium arena", "a packed stadium", "scene"),
    _s("farm barn farmyard", "a farm", "scene"),
    _s("desert dunes", "a desert", "scene"),
    _s("cave cavern", "a dark cave", "scene"),
    _s("swamp marsh", "a swamp", "scene"),
    _s("park playground", "a park", "scene"),
    _s("room roomtone interior", "an empty room", "scene"),
    _s("electricity electric spark sparks arc zap", "electric sparks", "scene"),
    _s("alpine mountain mountains", "snowy mountains", "scene"),
    _s("amusement carnival fairground", "an amusement park", "scene"),
    _s("party celebration festival parade", "a crowded party", "scene"),
    _s("construction", "a construction site", "scene"),
    _s("hospital clinic", "a hospital corridor", "scene"),
    _s("school classroom", "a classroom", "scene"),
    _s("prison jail", "a prison corridor", "scene"),
    _s("harbour harbor marina port dock nautical", "a harbour with boats", "scene"),
    _s("station airport terminal transportation", "a busy station concourse", "scene"),
    _s("lake lakeside pond", "a lake", "scene"),
    _s("suburban residential neighbourhood neighborhood", "a quiet suburban street", "scene"),
    _s("town village rural countryside", "a village in the countryside", "scene"),
    _s("battlefield war warfare battle", "a battlefield", "scene"),
    _s("tundra arctic polar", "a frozen arctic landscape", "scene"),
    _s("earthquake tremor", "buildings shaking in an earthquake", "scene"),
    _s("tornado hurricane cyclone", "a tornado", "scene"),
    _s("volcano lava eruption magma", "a volcano erupting", "scene"),
    _s("avalanche landslide", "an avalanche", "scene"),
    _s("tsunami flood", "a flood", "scene"),
    _s("geyser fumarole", "a geyser erupting", "scene"),
    _s("collapse debris rubble destruction", "a building collapsing into rubble", "scene"),
    _s("dirt sand dust soil", "dirt and sand", "scene"),
    _s("gore blood flesh bone guts", "a gory wound", "scene"),
    _s("drum drums percussion cymbal", "a drummer playing drums", "scene"),
    _s("guitar violin cello harp strings", "a musician playing a string instrument", "scene"),
    _s("trumpet trombone tuba brass", "a musician playing a trumpet", "scene"),
    _s("flute clarinet saxophone woodwind", "a musician playing a flute", "scene"),
    _s("piano organ", "piano", "object", "being played"),
    _s("musical music instrument", "a musical instrument being played", "scene"),
    _s("gear gears cogs clockwork", "turning gears", "scene"),
    _s("rope ropes rigging", "rope", "object"),
    _s("box crate", "cardboard box", "object"),
    _s("lighter", "lighter", "object", "being lit"),
    _s("pen pencil writing chalk", "a hand writing with a pen", "scene"),
    _s("jewelry jewellery necklace bracelet", "jewelry", "object", "", False),
    _s("dice chess board", "a board game on a table", "scene"),
    _s("arcade videogame game games", "a video game on a screen", "scene"),
    _s("snore snoring sleep", "a person sleeping", "scene"),
    _s("kiss", "two people kissing", "scene"),
    _s("whistle whistling", "a person whistling", "scene"),
    _s("cartoon toon", "a colourful cartoon scene", "scene"),
    _s("scifi futuristic", "a futuristic science fiction scene", "scene"),
    _s("toy toys", "toy", "object"),
    _s("voice vocal vocals speech female male", "a person speaking", "scene"),
    _s("horn horns", "horn", "object", "being blown"),
    _s("weather", "a stormy sky", "scene"),
    _s("vegetation plant plants", "plants", "object", "", False),
    _s("mechanical mechanism", "a mechanism", "scene"),
    _s("human person body", "a person", "scene"),
    _s("ambience ambient atmosphere atmos", "a quiet landscape", "scene"),
)

_MATERIALS = {
    "wood": "wooden", "wooden": "wooden", "metal": "metal", "metallic": "metal", "steel": "steel",
    "iron": "iron", "glass": "glass", "plastic": "plastic", "stone": "stone", "leather": "leather",
    "paper": "paper", "cardboard": "cardboard", "ceramic": "ceramic", "porcelain": "porcelain",
    "rubber": "rubber", "cloth": "cloth", "fabric": "fabric",
}  # fmt: skip
_ADJECTIVES = {
    "antique": "old", "old": "old", "vintage": "old", "rusty": "rusty", "heavy": "heavy",
    "small": "small", "tiny": "tiny", "little": "small", "large": "large", "big": "big",
    "huge": "huge", "giant": "giant",
}  # fmt: skip
# A material on its own (no other subject) becomes the subject.
_MATERIAL_NOUNS = {
    "wooden": "wooden plank", "metal": "metal sheet", "steel": "steel beam", "iron": "iron bar",
    "glass": "pane of glass", "plastic": "plastic container", "stone": "stone block",
    "leather": "leather belt", "paper": "sheet of paper", "cardboard": "cardboard box",
    "ceramic": "ceramic plate", "porcelain": "porcelain cup", "rubber": "rubber ball",
    "cloth": "piece of cloth", "fabric": "piece of fabric",
}  # fmt: skip
_SURFACES = {
    "concrete": "concrete", "gravel": "gravel", "snow": "snow", "grass": "grass", "sand": "sand",
    "leaves": "dry leaves", "mud": "mud", "wood": "a wooden floor", "wooden": "a wooden floor",
    "tile": "a tiled floor", "tiles": "a tiled floor", "carpet": "carpet", "metal": "a metal floor",
    "marble": "a marble floor", "dirt": "a dirt path", "puddle": "a puddle", "roof": "a roof",
    "window": "a window", "umbrella": "an umbrella", "tent": "a tent", "pavement": "pavement",
    "asphalt": "asphalt", "ice": "ice", "water": "shallow water",
}  # fmt: skip
# action word -> (passive phrase for objects, active phrase for agents)
_ACTIONS = {
    "open": ("being opened", "opening"), "opening": ("being opened", "opening"),
    "opens": ("being opened", "opening"), "close": ("being closed", "closing"),
    "closing": ("being closed", "closing"), "shut": ("being shut", "shutting"),
    "slam": ("being slammed shut", "slamming"), "slams": ("being slammed shut", "slamming"),
    "knock": ("being knocked on", "knocking"), "knocking": ("being knocked on", "knocking"),
    "break": ("breaking", "breaking"), "breaking": ("breaking", "breaking"),
    "shatter": ("shattering", "shattering"), "smash": ("being smashed", "smashing"),
    "hit": ("being hit", "hitting"), "impact": ("being hit", "crashing"), "bang": ("being banged", "banging"),
    "drop": ("being dropped", "dropping"), "fall": ("falling", "falling"), "falling": ("falling", "falling"),
    "scrape": ("being scraped", "scraping"), "drag": ("being dragged", "dragging"),
    "slide": ("sliding", "sliding"), "roll": ("rolling", "rolling"), "crash": ("crashing", "crashing"),
    "shoot": ("being fired", "shooting"), "shot": ("being fired", "shooting"),
    "fire": ("being fired", "firing"), "reload": ("being reloaded", "reloading"),
    "cock": ("being cocked", "cocking"), "start": ("starting", "starting"),
    "idle": ("idling", "idling"), "rev": ("revving", "revving"), "pass": ("passing by", "passing by"),
    "passby": ("passing by", "passing by"), "by": ("passing by", "passing by"),
    "skid": ("skidding", "skidding"), "brake": ("braking", "braking"), "run": ("running", "running"),
    "running": ("running", "running"), "walk": ("walking", "walking"), "walking": ("walking", "walking"),
    "jump": ("jumping", "jumping"), "bark": ("barking", "barking"), "barking": ("barking", "barking"),
    "growl": ("growling", "growling"), "roar": ("roaring", "roaring"), "howl": ("howling", "howling"),
    "meow": ("meowing", "meowing"), "purr": ("purring", "purring"), "chirp": ("chirping", "chirping"),
    "flap": ("flapping", "flapping its wings"), "ring": ("ringing", "ringing"),
    "ringing": ("ringing", "ringing"), "click": ("being clicked", "clicking"), "pour": ("being poured", "pouring"),
    "spin": ("spinning", "spinning"), "swing": ("being swung", "swinging"), "unsheathe": ("being drawn", "drawing"),
    "splash": ("splashing", "splashing"), "drip": ("dripping", "dripping"),
    "creak": ("", ""), "squeak": ("", ""), "lock": ("being locked", "locking"), "unlock": ("being unlocked", "unlocking"),
}  # fmt: skip
_ADVERBS = {
    "slow": "slowly", "slowly": "slowly", "fast": "quickly", "quick": "quickly", "quickly": "quickly",
    "gentle": "gently", "gently": "gently", "soft": "gently", "softly": "gently", "hard": "forcefully",
    "violent": "violently", "violently": "violently", "distant": "in the distance", "far": "in the distance",
}  # fmt: skip
_WORD = re.compile(r"[a-z]+")


def _tokens(*texts: str) -> list[str]:
    # camelCase UCS CatIDs and user data ("DOORWood") split into words too.
    out: list[str] = []
    for text in texts:
        spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text or "")
        out.extend(_WORD.findall(spaced.lower()))
    return out


def _lookup(word: str, table: dict[str, str]) -> str | None:
    if word in table:
        return table[word]
    if len(word) > 3 and word.endswith("s") and word[:-1] in table:
        return table[word[:-1]]
    return None


def _action(word: str) -> tuple[str, str] | None:
    """The action phrases for a word or its simple inflections (growls, growling, closing, running)."""
    forms = [word]
    if word.endswith("s") and len(word) > 3:
        forms.append(word[:-1])
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        forms += [stem, stem + "e"]
        if len(stem) > 2 and stem[-1] == stem[-2]:
            forms.append(stem[:-1])
    if word.endswith("ed") and len(word) > 4:
        forms += [word[:-2], word[:-1]]
    return next((_ACTIONS[f] for f in forms if f in _ACTIONS), None)


def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


# UCS explanations of catch-all CatIDs talk about the list, not about anything one could see.
_NOT_VISUAL = re.compile(r"categor|not fitting|otherwise|misc|what it says|f_ck|\bsounds?\b")
PREDICTION_MIN_CONFIDENCE = 0.4
"""A predicted UCS category below this confidence does not shape an item's description."""


class TemplateDescriber:
    """Rule-based visual descriptions from metadata; no model, deterministic, never empty.

    The subject comes from the title, description and tags, else from the UCS category: the
    item's own, or (for an item without one) the category predicted from its sound. When nothing
    visual is found, the UCS explanation's example says what one would see ("a flat tire")."""

    name = "template"
    # 2: official UCS 8.2.1 explanations and predicted categories (sfxkit.catalog.categorize)
    version = "2"
    untrained = False

    def spec(self) -> dict[str, Any]:
        """What :func:`describer_from_spec` needs to rebuild this describer."""
        return {"kind": "template"}

    def describe(self, items: Sequence[CatalogItem], n: int = 3) -> list[list[str]]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        out = []
        for item in items:
            phrase = self.phrase(item)
            out.append([TEMPLATES[i % len(TEMPLATES)].format(phrase) for i in range(n)])
        return out

    def phrase(self, item: CatalogItem) -> str:
        """The visual noun phrase for one item, e.g. "a wooden door being opened slowly"."""
        entry, category, subcategory = self._ucs_context(item)
        synonyms = " ".join(entry.synonyms) if entry is not None else ""
        primary = _tokens(item.title, item.description, " ".join(item.tags))
        # The subcategory is the most specific context (AMBIENCE / FARM is a farm), then the
        # category, then the UCS table's synonyms for the CatID.
        subject = self._subject(primary) or self._subject(_tokens(subcategory, category))
        if subject is None and (example := self._example(entry)):
            # UCS's own words for what the category looks like beat a guess from its synonyms
            return example
        subject = subject or self._subject(_tokens(synonyms))
        material = next((m for w in primary if (m := _lookup(w, _MATERIALS))), None)
        if material is None:
            material = next(
                (m for w in _tokens(subcategory, category) if (m := _lookup(w, _MATERIALS))),
                None,
            )
        adjective = next((a for w in primary if (a := _ADJECTIVES.get(w))), None)
        adverb = next((a for w in primary if (a := _ADVERBS.get(w))), "")

        if subject is None:
            if material is None or material not in _MATERIAL_NOUNS:
                return self._fallback(item)
            subject = _Subject((), _MATERIAL_NOUNS[material], "object")
            material = None

        action = ""
        for w in primary:
            pair = _action(w)
            # "fire" is an action for a gun but the subject itself in "fire burning".
            if pair is not None and pair[0] and w not in subject.keywords:
                action = pair[0] if subject.kind == "object" else pair[1]
                break
        if not action:
            action = subject.default

        if subject.kind == "scene":
            words = [subject.noun]
        else:
            noun = subject.noun
            # Materials describe things ("a wooden door"): not "glass water", and for footsteps
            # "wood" is the floor, not the walker.
            if material and subject.kind == "object" and subject.article and material not in noun:
                noun = f"{material} {noun}"
            if adjective and adjective not in noun:
                noun = f"{adjective} {noun}"
            words = [_article(noun) if subject.article else noun]
            if action:
                words.append(action)
        if subject.surface:
            surface = next((s for w in primary if (s := _SURFACES.get(w))), None)
            if surface:
                words.append(f"on {surface}")
        if adverb and subject.kind != "scene":
            words.append(adverb)
        return " ".join(words)

    @staticmethod
    def _subject(tokens: list[str]) -> _Subject | None:
        best: tuple[int, int] | None = None
        chosen: _Subject | None = None
        for rank, subj in enumerate(_SUBJECTS):
            keys = set(subj.keywords)
            for pos, w in enumerate(tokens):
                if w in keys or (len(w) > 3 and w.endswith("s") and w[:-1] in keys):
                    if best is None or (pos, rank) < best:
                        best, chosen = (pos, rank), subj
                    break
        return chosen

    @staticmethod
    def _ucs_context(item: CatalogItem) -> tuple[Any, str, str]:
        """The UCS entry and Category/SubCategory that say what the item is: its own (CatID
        from the file name, or a Category/SubCategory pair of the table), else the predicted
        one when it is confident enough (:data:`PREDICTION_MIN_CONFIDENCE`)."""
        from sfxkit.catalog.ucs import catid_for, lookup_catid

        try:
            entry = lookup_catid(item.ucs_catid) if item.ucs_catid else None
            entry = entry or catid_for(item.category, item.subcategory)
            if entry is not None or item.category or not item.predicted_catid:
                return entry, item.category, item.subcategory
            if item.predicted_confidence < PREDICTION_MIN_CONFIDENCE:
                return None, "", ""
            return (
                lookup_catid(item.predicted_catid),
                item.predicted_category,
                item.predicted_subcategory,
            )
        except Exception:  # noqa: BLE001 - a broken user UCS table must not stop describing
            return None, item.category, item.subcategory

    @staticmethod
    def _example(entry: Any) -> str:
        """What UCS says one would see for the entry: the first concrete example of its
        explanation ("a flat tire"), else its first phrase ("slow air releases")."""
        examples = tuple(
            e for e in (entry.examples if entry is not None else ()) if not _NOT_VISUAL.search(e)
        )
        concrete = [e for e in examples if e.startswith(("a ", "an ", "the "))]
        return (concrete or list(examples) or [""])[0]

    @staticmethod
    def _fallback(item: CatalogItem) -> str:
        from pathlib import Path

        title = " ".join((item.title or "").split()).lower()
        if not title:
            title = " ".join(re.split(r"[_\-\s]+", Path(item.path).stem)).strip().lower()
        return title or "a sound source"


def describe_items(
    items: Sequence[CatalogItem], describer: Describer | None = None, n: int = 3
) -> list[list[str]]:
    """Run a describer (default :class:`TemplateDescriber`) and check its output shape."""
    d = describer if describer is not None else TemplateDescriber()
    result = d.describe(items, n=n)
    if len(result) != len(items):
        raise ValueError(
            f"describer {getattr(d, 'name', d)!r} returned {len(result)} lists for {len(items)} items"
        )
    return [
        [s for s in descs if s and s.strip()] or [f"a photo of {TemplateDescriber._fallback(it)}"]
        for descs, it in zip(result, items, strict=True)
    ]


# ============================================================================ language models


class DescriberError(ModelError):
    """A language-model describer could not produce descriptions (endpoint down, timeout, bad
    answer). Entries already received stay in the response cache; nothing else was written."""


@dataclass(frozen=True)
class PromptTemplate:
    """The instruction a language model gets. ``version`` is part of every cache key and of the
    describer's version, so changing the wording re-describes instead of reusing old answers."""

    version: str
    system: str
    user: str  # placeholders: {metadata} and {n}

    def render(self, item: CatalogItem, n: int) -> str:
        return self.user.format(metadata=item_metadata(item), n=n)

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "system": self.system, "user": self.user}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PromptTemplate:
        return cls(version=str(d["version"]), system=str(d["system"]), user=str(d["user"]))


DEFAULT_PROMPT = PromptTemplate(
    version="p1",
    system=(
        "You help a film sound editor. Given the metadata of one sound effect, you say what a "
        "camera would show in a video frame while this sound is heard. Describe only visible "
        "things (objects, actions, places, materials), never the sound itself."
    ),
    user=(
        "Sound effect metadata:\n{metadata}\n\n"
        "Write {n} different short descriptions (at most 15 words each) of a video frame in "
        "which this sound happens. One description per line, no numbering, no quotes."
    ),
)


def item_metadata(item: CatalogItem) -> str:
    """The metadata lines a language model sees for one item (empty fields left out)."""
    lines = [f"Title: {item.title.strip() or Path(item.path).stem}"]
    if item.description.strip():
        lines.append(f"Description: {item.description.strip()}")
    category = " / ".join(p.strip() for p in (item.category, item.subcategory) if p and p.strip())
    if category:
        lines.append(f"Category: {category}")
    tags = [t.strip() for t in item.tags if t and t.strip()]
    if tags:
        lines.append("Keywords: " + ", ".join(tags))
    return "\n".join(lines)


MAX_DESCRIPTION_CHARS = 160
MAX_DESCRIPTION_WORDS = 24
_BULLET = re.compile(r"^\s*(?:[-*\u2022>#]+|\(?\d{1,2}[.):\]]|[a-z][.)])\s+", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:description|caption|frame|scene)\s*\d*\s*[:\-]\s*", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]{2,}")
# A word, possibly hyphenated or with an apostrophe, possibly followed by punctuation.
_WORDLIKE = re.compile(r"^[(\"']?[^\W_]+(?:['\-][^\W_]+)*[.,;:!?)\"']*$")


def clean_description(
    text: str, *, max_chars: int = MAX_DESCRIPTION_CHARS, max_words: int = MAX_DESCRIPTION_WORDS
) -> str:
    """One usable description from a line of model output, or ``""`` when nothing usable is there.

    Strips numbering, bullets, "Description 2:" labels, quotes and control characters, keeps at
    most ``max_words`` words and ``max_chars`` characters (cut at a word boundary), and rejects
    text that is not mostly words (an untrained model's byte soup).
    """
    t = unicodedata.normalize("NFKC", text or "").replace("\ufffd", " ")
    t = "".join(ch if (ch.isprintable() or ch == " ") else " " for ch in t)
    t = " ".join(t.split())
    for _ in range(2):
        t = _LABEL.sub("", _BULLET.sub("", t)).strip()
    t = t.strip("\"'`\u201c\u201d\u2018\u2019 ").strip()
    words = t.split()[:max_words]
    t = " ".join(words)
    if len(t) > max_chars:
        t = t[:max_chars].rsplit(" ", 1)[0].rstrip(",;:-")
    tokens = t.split()
    wordlike = sum(bool(_WORDLIKE.match(tok)) for tok in tokens)
    if len(_LETTERS.findall(t)) < 2 or not tokens or wordlike / len(tokens) < 0.8:
        return ""
    return t


def split_descriptions(text: str, n: int, **limits: int) -> list[str]:
    """Up to ``n`` distinct cleaned descriptions from a model answer (one per line)."""
    out: list[str] = []
    seen: set[str] = set()
    for line in (text or "").splitlines():
        d = clean_description(line, **limits)
        if d and d.lower() not in seen:
            seen.add(d.lower())
            out.append(d)
        if len(out) >= n:
            break
    return out


def _fill(descs: list[str], item: CatalogItem, n: int) -> tuple[list[str], bool]:
    """Pad to ``n`` with the template's descriptions; says whether the template had to help."""
    if len(descs) >= n:
        return descs[:n], False
    extra = [d for d in TemplateDescriber().describe([item], n=n)[0] if d not in descs]
    return (descs + extra)[:n], True


def _params_tag(params: Mapping[str, Any]) -> str:
    blob = json.dumps(dict(params), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:6]


def _open_cache(cache: ResponseCache | str | Path | bool | None) -> ResponseCache | None:
    from sfxkit.catalog.describe.cache import ResponseCache

    if cache is False:
        return None
    if cache is None or cache is True:
        return ResponseCache()
    if isinstance(cache, ResponseCache):
        return cache
    return ResponseCache(cache)


@dataclass
class DescriberStats:
    """What the last ``describe`` calls cost: answers from the model, from the cache, and items
    whose answer was unusable (filled from the template)."""

    calls: int = 0
    cache_hits: int = 0
    fallbacks: int = 0
    fallback_items: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------- local transformers


def resolve_hf_model(model: str | Path, family: str = "llm") -> Path:
    """A local directory for a transformers model: the path itself, ``<weights root>/<family>/
    <org>--<name>``, or the Hugging Face cache (never the network)."""
    from sfxkit.config import get_settings
    from sfxkit.errors import WeightsMissingError

    p = Path(model).expanduser()
    if p.is_dir():
        return p
    if p.exists() or str(model).startswith((".", "/", "~")):
        raise InputError(f"{p}: not a model directory; pass a directory holding config.json")
    name = str(model)
    roots = get_settings().weight_roots()
    for root in roots:
        candidate = root / family / name.replace("/", "--")
        if (candidate / "config.json").is_file():
            return candidate
    try:
        from huggingface_hub import snapshot_download

        from sfxkit.models.weights import hub_offline

        with hub_offline():
            return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any hub error means "not available offline"
        pass
    raise WeightsMissingError(
        f"{family}:{name}",
        roots[-1] / family / name.replace("/", "--"),
        hint="(or pass the directory of a saved transformers model)",
    )


class TransformersDescriber:
    """Descriptions from a local causal language model (any transformers ``AutoModelForCausalLM``).

    ``model`` is a directory or a Hugging Face id already in a local cache (``local_files_only``).
    The prompt asks for ``n`` lines; sampling is seeded, so the same input gives the same answer.
    A model whose config carries ``sfxkit_untrained = True`` (the tiny test models) is labelled
    untrained; its output is junk and mostly falls back to the template.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        prompt: PromptTemplate = DEFAULT_PROMPT,
        device: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.7,
        top_p: float = 0.95,
        seed: int = 0,
        batch_size: int = 8,
        cache: ResponseCache | str | Path | bool | None = None,
    ) -> None:
        self.model_id = str(model)
        self.prompt = prompt
        self.device = device
        self.params = {
            "max_new_tokens": int(max_new_tokens),
            "temperature": float(temperature),
            "top_p": float(top_p),
            "seed": int(seed),
        }
        self.batch_size = max(1, int(batch_size))
        self.name = f"llm:{self.model_id}"
        self.version = f"{prompt.version}.{_params_tag(self.params)}"
        self._cache_arg = cache
        self._cache: ResponseCache | None = None
        self._loaded: tuple[Any, Any] | None = None
        self._untrained: bool | None = None
        self.stats = DescriberStats()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "transformers",
            "model": self.model_id,
            "prompt": self.prompt.to_dict(),
            **self.params,
        }

    @property
    def untrained(self) -> bool:
        if self._untrained is None:
            from transformers import AutoConfig

            path = resolve_hf_model(self.model_id)
            config = AutoConfig.from_pretrained(str(path), local_files_only=True)
            self._untrained = bool(getattr(config, "sfxkit_untrained", False))
        return self._untrained

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from sfxkit.config import resolve_device
            from sfxkit.models.weights import hub_offline

            path = resolve_hf_model(self.model_id)
            try:
                with hub_offline():
                    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
            except Exception as exc:  # transformers/safetensors/json errors alike
                raise ModelError(
                    f"could not load the language model '{self.model_id}' from {path}: {exc}; "
                    "the directory must hold a transformers causal LM (config.json, weights, "
                    "tokenizer files)"
                ) from exc
            tok.padding_side = "left"  # generation continues on the right
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            model = cast(Any, model).to(resolve_device(self.device)).eval()
            self._untrained = bool(getattr(model.config, "sfxkit_untrained", False))
            self._loaded = (model, tok)
        return self._loaded

    def _text(self, tok: Any, item: CatalogItem, n: int) -> str:
        user = self.prompt.render(item, n)
        if getattr(tok, "chat_template", None):
            messages = [
                {"role": "system", "content": self.prompt.system},
                {"role": "user", "content": user},
            ]
            return str(
                tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        return f"{self.prompt.system}\n\n{user}\n\nDescriptions:\n"

    def describe(self, items: Sequence[CatalogItem], n: int = 3) -> list[list[str]]:
        from sfxkit.catalog.describe.cache import cache_key

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if self._cache is None and self._cache_arg is not False:
            self._cache = _open_cache(self._cache_arg)
        out: list[list[str] | None] = [None] * len(items)
        keys: list[str] = []
        todo: list[int] = []
        for i, item in enumerate(items):
            key = cache_key(self.name, self.prompt.version, self.prompt.render(item, n),
                            {**self.params, "n": n})  # fmt: skip
            keys.append(key)
            hit = self._cache.get(key) if self._cache is not None else None
            if hit is not None:
                self.stats.cache_hits += 1
                out[i] = hit
            else:
                todo.append(i)
        if todo:
            import torch

            model, tok = self._load()
            # Seeded sampling without disturbing the caller's RNG (CPU, and the model's GPU).
            devices = [model.device.index or 0] if model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.params["seed"])
                for start in range(0, len(todo), self.batch_size):
                    chunk = todo[start : start + self.batch_size]
                    texts = [self._text(tok, items[i], n) for i in chunk]
                    enc = tok(texts, return_tensors="pt", padding=True).to(model.device)
                    with torch.inference_mode():
                        gen = model.generate(
                            **enc,
                            max_new_tokens=self.params["max_new_tokens"],
                            do_sample=self.params["temperature"] > 0,
                            temperature=self.params["temperature"] or None,
                            top_p=self.params["top_p"],
                            pad_token_id=tok.pad_token_id,
                        )
                    answers = tok.batch_decode(gen[:, enc["input_ids"].shape[1] :],
                                               skip_special_tokens=True)  # fmt: skip
                    self.stats.calls += len(chunk)
                    for i, answer in zip(chunk, answers, strict=True):
                        descs = split_descriptions(answer, n)
                        if self._cache is not None:
                            self._cache.put(keys[i], descs, model=self.name,
                                            prompt_version=self.prompt.version,
                                            text=self.prompt.render(items[i], n))  # fmt: skip
                        out[i] = descs
        return _finish(self.stats, items, out, n)


def _finish(
    stats: DescriberStats, items: Sequence[CatalogItem], out: list[list[str] | None], n: int
) -> list[list[str]]:
    """Pad each answer to ``n`` with the template's descriptions, counting who needed help."""
    result = []
    for item, descs in zip(items, out, strict=True):
        filled, helped = _fill(list(descs or []), item, n)
        if helped:
            stats.fallbacks += 1
            stats.fallback_items.append(item.id)
        result.append(filled)
    return result


# ------------------------------------------------------------------- OpenAI-compatible endpoint

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0


class OpenAIDescriber:
    """Descriptions from any OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url`` is the API root (``http://localhost:11434/v1`` for Ollama,
    ``http://localhost:8000/v1`` for vLLM, ``http://localhost:8080/v1`` for llama.cpp's server).
    Every request has a ``timeout`` (seconds per connect/read); connection errors, timeouts and
    HTTP 408/429/5xx are retried ``retries`` times with exponential backoff (``backoff * 2**k``
    seconds, or the server's Retry-After up to 30 s). Other HTTP errors (bad model name, bad key)
    fail at once. When an item still fails, :class:`DescriberError` is raised: answers received
    before it are in the cache (whole entries only), nothing else is written.

    The API key comes from ``api_key``, else ``SFXKIT_LLM_API_KEY``, else ``OPENAI_API_KEY``; it is
    never stored in the cache, the index or ``spec()``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        prompt: PromptTemplate = DEFAULT_PROMPT,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        temperature: float = 0.7,
        max_tokens: int = 256,
        workers: int = 1,
        cache: ResponseCache | str | Path | bool | None = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise InputError(
                f"base_url {base_url!r} must be an http(s) URL such as http://localhost:11434/v1"
            )
        if not model:
            raise InputError("an OpenAI-compatible describer needs a model name (e.g. llama3.2)")
        self.base_url = base_url.rstrip("/")
        self.url = (
            self.base_url
            if self.base_url.endswith("/chat/completions")
            else f"{self.base_url}/chat/completions"
        )
        self.model_id = model
        self.api_key = (
            api_key or os.environ.get("SFXKIT_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        )
        self.prompt = prompt
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.params = {"temperature": float(temperature), "max_tokens": int(max_tokens)}
        self.workers = max(1, int(workers))
        self.name = f"openai:{model}"
        self.version = f"{prompt.version}.{_params_tag(self.params)}"
        self.untrained = False
        self._cache = _open_cache(cache)
        self.stats = DescriberStats()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "openai",
            "base_url": self.base_url,
            "model": self.model_id,
            "prompt": self.prompt.to_dict(),
            "timeout": self.timeout,
            "retries": self.retries,
            **self.params,
        }

    # --------------------------------------------------------------- one request
    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        import time
        import urllib.error
        import urllib.request

        data = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempts = self.retries + 1
        reason = ""
        fix = ""
        for attempt in range(attempts):
            wait = self.backoff * (2**attempt)
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    body = resp.read()
                try:
                    return dict(json.loads(body))
                except (json.JSONDecodeError, TypeError, ValueError) as exc:
                    raise DescriberError(
                        f"{self.url}: the answer is not JSON ({exc}); is this an OpenAI-compatible "
                        "endpoint? Ollama, vLLM and llama.cpp serve one under /v1"
                    ) from exc
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace") if exc.fp else ""
                if exc.code not in _RETRY_STATUS:
                    raise DescriberError(
                        f"{self.url}: HTTP {exc.code} {exc.reason} ({detail.strip() or 'no detail'}); "
                        f"check the model name '{self.model_id}', the URL and the API key"
                    ) from exc
                reason = f"HTTP {exc.code} {exc.reason}"
                fix = "the server is overloaded or failing; retry later or lower --workers"
                after = exc.headers.get("Retry-After") if exc.headers else None
                if after is not None:
                    with contextlib.suppress(ValueError):
                        wait = min(float(after), MAX_RETRY_AFTER_S)
            except TimeoutError:  # socket.timeout is TimeoutError since 3.10
                reason = f"no answer within {self.timeout:g} s"
                fix = "raise --timeout, use a smaller model, or check that the server is not stuck"
            except urllib.error.URLError as exc:
                inner = exc.reason
                if isinstance(inner, TimeoutError):
                    reason = f"no answer within {self.timeout:g} s"
                    fix = "raise --timeout, use a smaller model, or check the server"
                else:
                    reason = f"cannot connect ({inner})"
                    fix = (
                        "start the server (e.g. `ollama serve`, `vllm serve MODEL`, "
                        "`llama-server -m MODEL.gguf`) or check --base-url"
                    )
            except (ConnectionError, OSError) as exc:
                reason = f"connection failed ({exc})"
                fix = "start the server or check --base-url"
            if attempt + 1 < attempts and wait > 0:
                time.sleep(wait)
        raise DescriberError(f"{self.url}: {reason} after {attempts} attempt(s); {fix}")

    def _ask(self, item: CatalogItem, n: int) -> list[str]:
        payload = {
            "model": self.model_id,
            "messages": [
                {"role": "system", "content": self.prompt.system},
                {"role": "user", "content": self.prompt.render(item, n)},
            ],
            "stream": False,
            **self.params,
        }
        answer = self._post(payload)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise DescriberError(
                f"{self.url}: the answer has no choices[0].message.content ({str(answer)[:200]}); "
                "is this an OpenAI-compatible chat endpoint?"
            ) from exc
        self.stats.calls += 1
        return split_descriptions(str(content or ""), n)

    def describe(self, items: Sequence[CatalogItem], n: int = 3) -> list[list[str]]:
        from sfxkit.catalog.describe.cache import cache_key

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        out: list[list[str] | None] = [None] * len(items)
        todo: list[tuple[int, str]] = []
        for i, item in enumerate(items):
            key = cache_key(self.name, self.prompt.version, self.prompt.render(item, n),
                            {**self.params, "n": n})  # fmt: skip
            hit = self._cache.get(key) if self._cache is not None else None
            if hit is not None:
                self.stats.cache_hits += 1
                out[i] = hit
            else:
                todo.append((i, key))

        def work(job: tuple[int, str]) -> None:
            i, key = job
            descs = self._ask(items[i], n)
            # Cached only after a complete answer: a failure leaves no entry behind.
            if self._cache is not None:
                self._cache.put(key, descs, model=self.name, prompt_version=self.prompt.version,
                                text=self.prompt.render(items[i], n))  # fmt: skip
            out[i] = descs

        if self.workers == 1:
            for job in todo:
                work(job)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                # list() re-raises the first failure; the rest are cancelled or finish into the cache
                list(pool.map(work, todo))
        return _finish(self.stats, items, out, n)


# ----------------------------------------------------------------------------------- specs


def describer_from_spec(spec: Mapping[str, Any], **overrides: Any) -> Describer:
    """Rebuild a describer from its ``spec()`` (as stored in an index manifest)."""
    kind = spec.get("kind", "template")
    prompt = PromptTemplate.from_dict(spec["prompt"]) if "prompt" in spec else DEFAULT_PROMPT
    if kind == "template":
        return TemplateDescriber()
    if kind == "transformers":
        keys = ("max_new_tokens", "temperature", "top_p", "seed")
        kwargs = {k: spec[k] for k in keys if k in spec}
        return TransformersDescriber(spec["model"], prompt=prompt, **{**kwargs, **overrides})
    if kind == "openai":
        keys = ("timeout", "retries", "temperature", "max_tokens")
        kwargs = {k: spec[k] for k in keys if k in spec}
        return OpenAIDescriber(
            spec["base_url"], spec["model"], prompt=prompt, **{**kwargs, **overrides}
        )
    raise InputError(f"unknown describer kind {kind!r}; use template, transformers or openai")


def make_describer(
    kind: str = "template",
    *,
    model: str | None = None,
    base_url: str | None = None,
    **kwargs: Any,
) -> Describer:
    """The describer a CLI flag names: ``template``, ``llm`` (local transformers) or ``openai``."""
    if kind == "template":
        return TemplateDescriber()
    if kind in {"llm", "transformers"}:
        if not model:
            raise InputError("--describer llm needs --model (a directory or a cached HF id)")
        return TransformersDescriber(model, **kwargs)
    if kind == "openai":
        if not base_url or not model:
            raise InputError(
                "--describer openai needs --base-url (e.g. http://localhost:11434/v1) and --model"
            )
        return OpenAIDescriber(base_url, model, **kwargs)
    raise InputError(f"unknown describer {kind!r}; use template, llm or openai")


def describer_tag(describer: Describer) -> str:
    return f"{describer.name}/{describer.version}"


def describer_record(describer: Describer) -> dict[str, Any]:
    """What an index manifest stores about the describer that wrote its descriptions."""
    spec_fn = getattr(describer, "spec", None)
    spec = spec_fn() if callable(spec_fn) else {"kind": "custom"}
    try:
        untrained = bool(getattr(describer, "untrained", False))
    except SfxkitError:  # a local model that is gone: the record must not need it
        untrained = False
    record: dict[str, Any] = {
        "name": describer.name,
        "version": describer.version,
        "tag": describer_tag(describer),
        "spec": spec,
        "untrained": untrained,
    }
    prompt = getattr(describer, "prompt", None)
    if isinstance(prompt, PromptTemplate):
        record["prompt"] = prompt.to_dict()
    return record


# ------------------------------------------------------------------------ re-describe an index


@dataclass(frozen=True)
class DescribeReport:
    """What :func:`describe_index` changed."""

    index: Path
    version: int
    describer: str
    items: int
    changed: int
    calls: int
    cache_hits: int
    fallbacks: int
    untrained: bool
    examples: tuple[tuple[str, tuple[str, ...]], ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["index"] = str(self.index)
        d["examples"] = [{"title": t, "descriptions": list(ds)} for t, ds in self.examples]
        d["notes"] = list(self.notes)
        return d


def describe_index(
    index: str | Path,
    describer: Describer,
    *,
    n: int = 3,
    encoders: Mapping[str, Any] | None = None,
    device: str | None = None,
    lock_timeout: float | None = None,
) -> DescribeReport:
    """Re-describe every item of an index and re-embed its ``clip_text`` view, as a new version.

    Items whose descriptions do not change keep their vectors. The manifest records the
    describer (its spec and versioned prompt), so a later ``build_index`` keeps using it.
    Calibration is dropped when the ``clip_text`` view changes (its scores moved): rerun
    ``sfxkit bridge calibrate`` or ``bridge train``. Nothing is written if the describer fails.
    """
    import dataclasses

    import numpy as np

    from sfxkit.catalog.schema import items_to_table, table_to_items
    from sfxkit.index.derive import commit_derived_version, view_entry
    from sfxkit.index.store import load_index

    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    idx = load_index(index, views=[])
    items = table_to_items(idx.table)
    descriptions = describe_items(items, describer, n)  # may raise: nothing written yet
    tag = describer_tag(describer)
    new_items = [
        dataclasses.replace(
            it, visual_descriptions=tuple(ds), visual_description=ds[0], describer=tag
        )
        for it, ds in zip(items, descriptions, strict=True)
    ]
    changed = [
        i
        for i, (a, b) in enumerate(zip(items, new_items, strict=True))
        if a.visual_descriptions != b.visual_descriptions
    ]
    vectors = np.array(idx.vectors("clip_text").vectors, dtype=np.float32, copy=True)
    if changed:
        enc = dict(encoders or {}).get("frame")
        if enc is None:
            from sfxkit.models.registry import load_frame_encoder

            enc = load_frame_encoder(idx.manifest.views["clip_text"].model, device=device)
        groups = [list(new_items[i].visual_descriptions) for i in changed]
        embs = enc.encode_texts([t for g in groups for t in g])
        starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
        sums = np.add.reduceat(embs, starts, axis=0)
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        vectors[changed] = sums
    notes: list[str] = []
    drop: set[str] = set()
    calibration_dropped = bool(changed) and bool(idx.manifest.get("calibration"))
    if calibration_dropped:
        notes.append(
            "calibration dropped (clip_text scores changed); rerun `sfxkit bridge calibrate`"
        )

    searched: dict[str, Any] = {}

    def write(w: Any) -> None:
        from sfxkit.index.tune import build_tuned
        from sfxkit.index.views import choose_preset

        w.write_table("rows.parquet", items_to_table(new_items))
        ids = np.array([it.faiss_id for it in new_items], dtype=np.int64)
        vi, fields, warning = build_tuned(
            vectors, ids, choose_preset(len(new_items)), name="clip_text"
        )
        searched.update(fields)
        if warning:
            notes.append(warning)
        w.write_bytes("views/clip_text.faiss", vi.to_bytes())
        w.write_vectors("views/clip_text.npy", vectors)

    def update(raw: dict[str, Any]) -> dict[str, Any]:
        raw["views"]["clip_text"] = view_entry(
            raw["views"]["clip_text"], len(new_items), **searched
        )
        raw["describer"] = describer_record(describer)
        if calibration_dropped:
            raw.pop("calibration", None)
        return raw

    version = commit_derived_version(
        index,
        expected_version=idx.version,
        drop=drop,
        write=write,
        update_manifest=update,
        lock_timeout=lock_timeout,
    )
    stats = getattr(describer, "stats", None)
    return DescribeReport(
        index=idx.root,
        version=version,
        describer=tag,
        items=len(new_items),
        changed=len(changed),
        calls=int(getattr(stats, "calls", 0)),
        cache_hits=int(getattr(stats, "cache_hits", 0)),
        fallbacks=int(getattr(stats, "fallbacks", 0)),
        untrained=bool(getattr(describer, "untrained", False)),
        examples=tuple(
            (it.title or Path(it.path).stem, it.visual_descriptions) for it in new_items[:5]
        ),
        notes=tuple(notes),
    )
