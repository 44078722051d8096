"""The template describer (the offline default): a visual subject found in the metadata, with
what the metadata says about material, action, surface and manner, filled into caption templates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sfxkit.catalog.describe.base import Describer

if TYPE_CHECKING:  # pragma: no cover
    from sfxkit.catalog.schema import CatalogItem


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
            if entry is not None or item.category or not item.predicted_category:
                return entry, item.category, item.subcategory
            if item.predicted_confidence < PREDICTION_MIN_CONFIDENCE:
                return None, "", ""
            return (  # a prediction below the CatID level has a category and no entry
                lookup_catid(item.predicted_catid) if item.predicted_catid else None,
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
