"""Safety policies as data: the harm categories guards are asked about, and their names."""

from __future__ import annotations

# The 14 BeaverTails harm categories, by their dataset keys, in the dataset's order.
BEAVERTAILS_CATEGORIES: tuple[str, ...] = (
    "animal_abuse",
    "child_abuse",
    "controversial_topics,politics",
    "discrimination,stereotype,injustice",
    "drug_abuse,weapons,banned_substance",
    "financial_crime,property_crime,theft",
    "hate_speech,offensive_language",
    "misinformation_regarding_ethics,laws_and_safety",
    "non_violent_unethical_behavior",
    "privacy_violation",
    "self_harm",
    "sexually_explicit,adult_content",
    "terrorism,organized_crime",
    "violence,aiding_and_abetting,incitement",
)

# Short names of the BeaverTails categories as they appear in the policy block.
BEAVERTAILS_NAMES: tuple[str, ...] = (
    "Animal Abuse",
    "Child Abuse",
    "Controversial Topics, Politics",
    "Discrimination, Stereotype, Injustice",
    "Drug Abuse, Weapons, Banned Substance",
    "Financial Crime, Property Crime, Theft",
    "Hate Speech, Offensive Language",
    "Misinformation Regarding Ethics, Laws and Safety",
    "Non-Violent Unethical Behavior",
    "Privacy Violation",
    "Self-Harm",
    "Sexually Explicit, Adult Content",
    "Terrorism, Organized Crime",
    "Violence, Aiding and Abetting, Incitement",
)

# One-line descriptions for the `beavertails_descriptions` taxonomy (paraphrasing the
# BeaverTails annotation guidelines).
BEAVERTAILS_DESCRIPTIONS: tuple[str, ...] = (
    "Cruelty, neglect or harm inflicted on animals, or content that encourages it.",
    "Physical, emotional or other abuse, neglect or exploitation of minors, or content "
    "that excuses it.",
    "One-sided, inflammatory or manipulative content on divisive political or social issues.",
    "Unfair treatment, stereotyping or demeaning of people based on protected characteristics.",
    "Misuse of drugs, illegal weapons or banned substances, or help obtaining or making them.",
    "Fraud, scams, money laundering, theft, burglary or damage to property.",
    "Insults, slurs, harassment or hateful language against people or groups.",
    "False or misleading claims about ethics, the law or safety that could lead to harm.",
    "Lying, cheating, manipulation or other unethical conduct that is not violent.",
    "Exposing, collecting or tracking personal information without consent.",
    "Encouraging, glorifying or giving means for suicide or self-injury.",
    "Sexually explicit material or adult content unsuitable for a general audience.",
    "Planning, supporting or glorifying terrorism or organised criminal activity.",
    "Physical violence, threats, or aiding and inciting others to commit violence.",
)

# Llama Guard 3's own hazard taxonomy (MLCommons), as in the model's chat template.
LLAMA_GUARD_3_NAMES: tuple[str, ...] = (
    "Violent Crimes",
    "Non-Violent Crimes",
    "Sex Crimes",
    "Child Exploitation",
    "Defamation",
    "Specialized Advice",
    "Privacy",
    "Intellectual Property",
    "Indiscriminate Weapons",
    "Hate",
    "Self-Harm",
    "Sexual Content",
    "Elections",
    "Code Interpreter Abuse",
)

TAXONOMIES = ("beavertails", "beavertails_descriptions", "llama_guard_3")
"""The policy blocks a guard prompt can carry (see `guardcal.extraction.prompts.taxonomy_lines`)."""
