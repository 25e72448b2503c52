"""Bundled CS/US/context assets and the code that finds and checks stimulus files.

``pavlov.stimuli.resolve`` looks files up (beside the protocol, then here) and checks
their content; ``pavlov.stimuli.generate`` made the bundled assets.
"""
